-- Warnings keep their rule's named values (protocol version 3: the
-- warning_raised body's params, as JSON), so pages render them in the
-- reader's language; NULL for warnings written before.
ALTER TABLE warnings ADD COLUMN params TEXT;

-- Follow-up (整改) of a warning, from follow_up_assigned and
-- follow_up_recorded entries of the warning's own origin: where it stands
-- now, one row per warning. An ancestor holds its subtree's follow-ups,
-- replicated like payments.
CREATE TABLE follow_ups (
    warning TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    assignee TEXT NOT NULL,
    assignee_name TEXT NOT NULL,
    desk TEXT NOT NULL,
    deadline TEXT NOT NULL,
    status TEXT NOT NULL,
    verification TEXT NOT NULL,
    rectification TEXT NOT NULL,
    updated_on TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
-- Overdue follow-ups: open status, deadline passed.
CREATE INDEX follow_ups_due ON follow_ups (status, deadline);

-- Every step of a follow-up, for its history: the entry, who, and what it
-- said.
CREATE TABLE follow_up_steps (
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    warning TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    dated TEXT NOT NULL,
    actor_login TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    assignee TEXT NOT NULL,
    assignee_name TEXT NOT NULL,
    deadline TEXT,
    status TEXT,
    verification TEXT NOT NULL,
    rectification TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (origin, seq)
);
CREATE INDEX follow_up_steps_warning ON follow_up_steps (warning, origin, seq);

-- What a warning is about, for the readers' scope (department, 涉密): the
-- fund category of its allocation or payment, the department of its
-- project; both NULL for a payee or a node. Filled in by the ledger's
-- apply; here for the warnings written before.
ALTER TABLE warnings ADD COLUMN category TEXT;
ALTER TABLE warnings ADD COLUMN department TEXT;
UPDATE warnings SET category = (
    SELECT a.category FROM allocations a WHERE a.id = substr(warnings.subject, 12)
) WHERE subject LIKE 'allocation:%';
UPDATE warnings SET category = (
    SELECT a.category FROM payments p JOIN allocations a ON a.id = p.allocation_id
    WHERE p.origin = substr(warnings.subject, 9, 6)
      AND p.seq = CAST(substr(warnings.subject, 16) AS BIGINT)
) WHERE subject LIKE 'payment:%';
UPDATE warnings SET department = (
    SELECT pr.department FROM projects pr
    WHERE pr.origin = warnings.origin AND pr.code = substr(warnings.subject, 9)
) WHERE subject LIKE 'project:%';
