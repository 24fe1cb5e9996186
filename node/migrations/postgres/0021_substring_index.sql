-- Search (检索) by a substring index instead of reading every row (issue
-- 19): pg_trgm GIN indexes over the searched fields, lower-cased, which
-- serve the search's `LOWER(…) LIKE LOWER(…) ESCAPE '\'` themselves for
-- a text of 3 or more characters (shorter ones have no trigram and are
-- scanned). pg_trgm is a trusted extension (PostgreSQL 13+): the owner of
-- the database may create it without being a superuser; it must be
-- installed on the server (Debian: postgresql-contrib, part of the server
-- package since 10). CJK characters count as letters for pg_trgm only
-- where the database's LC_CTYPE classifies them so (C.UTF-8 with glibc
-- 2.35+, zh_CN.UTF-8, en_US.UTF-8; not plain "C"): see deploy/README.md.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- A payment's payee and purpose live only in its entry's body; the ledger
-- writes its row here beside the payment row (`ledger/tx.rs`, the same
-- transaction, own and relayed alike).
CREATE TABLE payment_texts (
    origin TEXT NOT NULL,
    seq BIGINT NOT NULL,
    voucher_no TEXT NOT NULL,
    payee TEXT NOT NULL,
    purpose TEXT NOT NULL,
    PRIMARY KEY (origin, seq)
);
-- The payments recorded before this table existed, from their entries
-- (the body is the kind's struct, bare before protocol version 2, else
-- inside {"actor", "body"}).
INSERT INTO payment_texts (origin, seq, voucher_no, payee, purpose)
SELECT p.origin, p.seq, p.voucher_no,
       COALESCE(j.t -> 'body' ->> 'payee_name', j.t ->> 'payee_name', ''),
       COALESCE(j.t -> 'body' ->> 'purpose', j.t ->> 'purpose', '')
FROM payments p
JOIN (SELECT origin, seq, convert_from(body, 'UTF8')::jsonb AS t FROM journal
      WHERE kind = 'payment_recorded') AS j
  ON j.origin = p.origin AND j.seq = p.seq;
CREATE INDEX payment_texts_trgm ON payment_texts USING gin (
    LOWER(voucher_no) gin_trgm_ops, LOWER(payee) gin_trgm_ops, LOWER(purpose) gin_trgm_ops
);

CREATE INDEX allocations_trgm ON allocations USING gin (
    LOWER(doc_no) gin_trgm_ops, LOWER(title) gin_trgm_ops
);
CREATE INDEX projects_trgm ON projects USING gin (
    LOWER(code) gin_trgm_ops, LOWER(name) gin_trgm_ops,
    LOWER(township) gin_trgm_ops, LOWER(village) gin_trgm_ops
);

-- The fund categories each project's payments draw on (reversed ones
-- too), so the project library's classified (涉密) check and its category
-- filter read this small table instead of every payment (issue 19). Written
-- at the write transaction's commit (`Work::commit`), once per new pair.
CREATE TABLE project_categories (
    origin TEXT NOT NULL,
    project TEXT NOT NULL,
    category TEXT NOT NULL,
    PRIMARY KEY (origin, project, category)
);
INSERT INTO project_categories (origin, project, category)
SELECT DISTINCT p.origin, p.project, a.category
FROM payments p JOIN allocations a ON a.id = p.allocation_id;
