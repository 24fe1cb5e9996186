-- The project library's pages (项目库): every actual recorded against a
-- target, not only the latest (the targets table keeps that one), with the
-- note it came with; and a project's payments found by the project.

CREATE TABLE target_actuals (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq BIGINT NOT NULL,
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
       COALESCE(t -> 'body' ->> 'target', t ->> 'target'),
       COALESCE(t -> 'body' ->> 'actual', t ->> 'actual'),
       COALESCE(t -> 'body' ->> 'recorded_on', t ->> 'recorded_on'),
       COALESCE(t -> 'body' ->> 'note', t ->> 'note', '')
FROM (SELECT origin, seq, convert_from(body, 'UTF8')::jsonb AS t FROM journal
      WHERE kind = 'target_actual_recorded') AS j;

-- No index on payments (origin, project): one more index write per payment
-- cost the voucher import a fifth of its speed (BENCHMARKS.md, 2026-12-07).
-- A project's pages read its payments by scanning; see BENCHMARKS.md.
