-- Sync: keys, checkpoints, down streams, enrolment and revocation.

-- Entry-signing keys by origin, from key_registered entries. Old keys stay,
-- so history signed with them stays verifiable.
CREATE TABLE node_keys (
    origin TEXT NOT NULL,
    key_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    entry_id TEXT,
    PRIMARY KEY (origin, key_id)
);

-- Signed checkpoints of other origins as received, kept to relay them
-- upward unchanged (a relay cannot sign for an origin).
CREATE TABLE checkpoints (
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    head BLOB NOT NULL,
    key_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (origin, seq)
);

-- Parent side: each child's down stream. Position down_seq carries this
-- node's journal entry seq; digest is the stream's running digest there.
CREATE TABLE down_entries (
    child TEXT NOT NULL,
    down_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    digest BLOB NOT NULL,
    PRIMARY KEY (child, down_seq)
);

-- Child side: how far the parent's down stream is applied, with the
-- parent's signed checkpoint there as a receipt.
CREATE TABLE down_state (
    parent TEXT PRIMARY KEY,
    down_seq INTEGER NOT NULL,
    digest BLOB NOT NULL,
    checkpoint BLOB
);

-- One-time enrolment tokens: only a hash of the secret is kept.
CREATE TABLE enroll_tokens (
    child TEXT NOT NULL,
    secret_hash BLOB NOT NULL PRIMARY KEY,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER
);

-- Children cut off, from child_revoked entries.
CREATE TABLE revocations (
    code TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    entry_id TEXT NOT NULL
);

-- What an operator must see: forks, foreign keys, refused batches.
CREATE TABLE sync_alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    peer TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
