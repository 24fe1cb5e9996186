-- Search (检索) by a substring index instead of reading every row (issue
-- 19): FTS5 tables with the trigram tokenizer (SQLite 3.34+, FTS5 is in
-- the bundled build), one per searched kind. Each holds a copy of the
-- searched fields; a search of 3 or more characters asks the index
-- (`<table> MATCH '"text"'`, case folded) for the candidates and then
-- checks the same `LOWER(…) LIKE …` as before against the copy, so what is
-- found is unchanged. Shorter texts have no trigram: they scan the copies
-- with the `LIKE` alone.
--
-- A payment's payee and purpose live only in its entry's body; the ledger
-- writes its row here beside the payment row (`ledger/tx.rs`, the same
-- transaction, own and relayed alike). Allocations and projects are copied
-- by triggers, in the transaction that inserts them (neither's searched
-- fields are ever updated).

CREATE VIRTUAL TABLE payment_texts USING fts5(
    origin UNINDEXED, seq UNINDEXED, voucher_no, payee, purpose,
    tokenize = 'trigram'
);
-- The payments recorded before this table existed, from their entries
-- (the body is the kind's struct, bare before protocol version 2, else
-- inside {"actor", "body"}).
INSERT INTO payment_texts (origin, seq, voucher_no, payee, purpose)
SELECT p.origin, p.seq, p.voucher_no,
       COALESCE(json_extract(j.t, '$.body.payee_name'), json_extract(j.t, '$.payee_name'), ''),
       COALESCE(json_extract(j.t, '$.body.purpose'), json_extract(j.t, '$.purpose'), '')
FROM payments p
JOIN (SELECT origin, seq, CAST(body AS TEXT) AS t FROM journal
      WHERE kind = 'payment_recorded') AS j
  ON j.origin = p.origin AND j.seq = p.seq;

CREATE VIRTUAL TABLE allocation_texts USING fts5(
    id UNINDEXED, doc_no, title,
    tokenize = 'trigram'
);
INSERT INTO allocation_texts (id, doc_no, title) SELECT id, doc_no, title FROM allocations;
CREATE TRIGGER allocation_texts_insert AFTER INSERT ON allocations BEGIN
    INSERT INTO allocation_texts (id, doc_no, title) VALUES (new.id, new.doc_no, new.title);
END;

CREATE VIRTUAL TABLE project_texts USING fts5(
    id UNINDEXED, code, name, township, village,
    tokenize = 'trigram'
);
INSERT INTO project_texts (id, code, name, township, village)
SELECT id, code, name, township, village FROM projects;
CREATE TRIGGER project_texts_insert AFTER INSERT ON projects BEGIN
    INSERT INTO project_texts (id, code, name, township, village)
    VALUES (new.id, new.code, new.name, new.township, new.village);
END;

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
