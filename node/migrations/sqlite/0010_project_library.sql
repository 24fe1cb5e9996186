-- The project library's pages (项目库): every actual recorded against a
-- target, not only the latest (the targets table keeps that one), with the
-- note it came with; and a project's payments found by the project.

CREATE TABLE target_actuals (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    target TEXT NOT NULL,
    actual TEXT NOT NULL,
    recorded_on TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX target_actuals_target ON target_actuals (target, recorded_on, origin, seq);

-- The actuals recorded before this table existed, from their entries (the
-- body is the kind's struct, bare before protocol version 2, else inside
-- {"actor", "body"}).
INSERT INTO target_actuals (id, origin, seq, target, actual, recorded_on, note)
SELECT origin || '-' || seq, origin, seq,
       COALESCE(json_extract(t, '$.body.target'), json_extract(t, '$.target')),
       COALESCE(json_extract(t, '$.body.actual'), json_extract(t, '$.actual')),
       COALESCE(json_extract(t, '$.body.recorded_on'), json_extract(t, '$.recorded_on')),
       COALESCE(json_extract(t, '$.body.note'), json_extract(t, '$.note'), '')
FROM (SELECT origin, seq, CAST(body AS TEXT) AS t FROM journal
      WHERE kind = 'target_actual_recorded') AS j;

-- No index on payments (origin, project): one more index write per payment
-- cost the voucher import a fifth of its speed (BENCHMARKS.md, 2026-12-07).
-- A project's pages read its payments by scanning; see BENCHMARKS.md.
