-- Accounts at every node (issue 15): the people who use this node's pages
-- and API, their roles, API tokens, sessions and the login throttle. None of
-- these tables is derived from the journal and none is replicated: a node's
-- accounts are its own (node/src/accounts/). Rows of users and tokens are
-- never deleted, so an id is never reused.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    department TEXT,
    classified INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    -- argon2id, as a PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
    password_hash TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    password_changed_ms INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- The secret is shown once; only its SHA-256 is kept (hex).
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Failed sign-ins in the current window, per subject: 'login:NAME' or
-- 'addr:ADDRESS'; locked_until_ms is set once a subject reaches its limit.
CREATE TABLE login_failures (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    locked_until_ms INTEGER NOT NULL DEFAULT 0
);

-- tower-sessions' records. The session id is kept only as its SHA-256
-- (hex), so a copy of the database holds no usable cookie; user_id is the
-- record's "user_id" key, so disabling a user or resetting their password
-- ends their sessions.
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    user_id INTEGER,
    data TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_ms);
