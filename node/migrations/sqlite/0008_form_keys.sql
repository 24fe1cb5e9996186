-- Idempotency keys of the pages' forms: each form a page renders carries a
-- random key; the entries a confirmed form recorded are stored under its
-- key, per login, in the transaction that records them, so a second POST
-- of the same form (a refresh, a double click) records nothing and shows
-- the first result. Local to this node (not replicated, not derived from
-- the journal); rows older than a day are pruned as new ones are written.
CREATE TABLE form_keys (
    login TEXT NOT NULL,
    form_key TEXT NOT NULL,
    form TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    -- The entry ids the form recorded (or found already recorded), comma-separated.
    entries TEXT NOT NULL,
    PRIMARY KEY (login, form_key)
);
CREATE INDEX form_keys_created ON form_keys (created_ms);
