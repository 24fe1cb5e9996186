-- The journal is the single source of truth; every other table is derived
-- from it inside the transaction that appends the entry. Money is stored as
-- integer fen. Dates are ISO 'YYYY-MM-DD' text, which sorts correctly.

CREATE TABLE node_identity (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent TEXT
);

CREATE TABLE journal (
    origin TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    kind TEXT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (origin, seq)
);

CREATE TABLE journal_heads (
    origin TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);

CREATE TABLE nodes (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent TEXT,
    entry_id TEXT
);

CREATE TABLE fund_categories (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    origin TEXT NOT NULL,
    department TEXT NOT NULL,
    classified BIGINT NOT NULL,
    defined_by TEXT,
    entry_id TEXT
);

CREATE TABLE allocations (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    doc_no TEXT NOT NULL,
    category TEXT NOT NULL,
    fund_origin TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    from_node TEXT,
    holder TEXT NOT NULL,
    source_id TEXT,
    dated TEXT NOT NULL,
    title TEXT NOT NULL,
    issued_fen BIGINT NOT NULL DEFAULT 0,
    paid_fen BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX allocations_holder ON allocations (holder, doc_no);
CREATE INDEX allocations_from ON allocations (from_node);
CREATE INDEX allocations_source ON allocations (source_id);

CREATE TABLE projects (
    id TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    township TEXT NOT NULL,
    village TEXT NOT NULL,
    department TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    budget_fen BIGINT NOT NULL,
    status TEXT NOT NULL,
    target_count BIGINT NOT NULL DEFAULT 0,
    paid_fen BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (origin, code)
);

CREATE TABLE targets (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    project TEXT NOT NULL,
    level1 TEXT NOT NULL,
    level2 TEXT NOT NULL,
    indicator TEXT NOT NULL,
    op TEXT NOT NULL,
    value TEXT NOT NULL,
    unit TEXT NOT NULL,
    actual TEXT,
    actual_on TEXT
);
CREATE INDEX targets_project ON targets (origin, project);

-- Keyed by the entry that recorded the payment, so inserts append in order.
-- Only what rules, filters and sums need; the voucher's other fields (payer,
-- payee, purpose, ...) are read from the entry's body in the journal.
CREATE TABLE payments (
    origin TEXT NOT NULL,
    seq BIGINT NOT NULL,
    voucher_no TEXT NOT NULL,
    paid_on TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    allocation_id TEXT NOT NULL,
    project TEXT NOT NULL,
    PRIMARY KEY (origin, seq),
    UNIQUE (origin, voucher_no)
);
CREATE INDEX payments_allocation ON payments (allocation_id);

CREATE TABLE payment_reversals (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    payment_seq BIGINT NOT NULL,
    reversed_on TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (origin, payment_seq)
);

-- Payments summed per allocation and day (net of reversals), so the master
-- ledger's "as of" figures never scan individual payments.
CREATE TABLE payment_daily (
    allocation_id TEXT NOT NULL,
    day TEXT NOT NULL,
    holder TEXT NOT NULL,
    paid_fen BIGINT NOT NULL,
    payments BIGINT NOT NULL,
    PRIMARY KEY (allocation_id, day)
);
