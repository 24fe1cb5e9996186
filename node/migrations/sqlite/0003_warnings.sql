-- Warnings (预警), from warning_raised entries; a warning_resolved entry of
-- the same origin fills in the resolution. Open: resolved_by IS NULL. An
-- ancestor holds its whole subtree's warnings, replicated like payments.
CREATE TABLE warnings (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    node TEXT NOT NULL,
    message TEXT NOT NULL,
    amount_fen INTEGER,
    as_of TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    resolved_by TEXT,
    resolved_ms INTEGER,
    resolved_as_of TEXT,
    resolution TEXT
);
-- The ledger's "same open warning" check and the evaluator's diff.
CREATE INDEX warnings_key ON warnings (origin, rule, subject);
-- The API's filters and its order.
CREATE INDEX warnings_node ON warnings (node, rule);
CREATE INDEX warnings_order ON warnings (as_of, origin, seq);
