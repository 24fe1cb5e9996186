-- The performance-target cycle (绩效目标 审核 → 批复 → 备案, seed 003
-- 第七–九条; protocol version 5).

-- Every submission of a target: its first (the target_set entry, kind
-- 'set') and each adjustment or revision after a return (target_adjusted,
-- kind 'adjust'), with where it stands: submitted → reviewed | returned →
-- approved. The value proposed and, for an adjustment, the one it
-- replaces; the review's three criteria and reasons; the approval's 文号.
CREATE TABLE target_submissions (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    project TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    op TEXT NOT NULL,
    value TEXT NOT NULL,
    old_op TEXT,
    old_value TEXT,
    reason TEXT NOT NULL,
    submitted_on TEXT,
    state TEXT NOT NULL,
    review TEXT,
    reviewed_on TEXT,
    necessity INTEGER,
    relevance INTEGER,
    fit INTEGER,
    reasons TEXT,
    approval TEXT,
    doc_no TEXT,
    approved_on TEXT
);
CREATE INDEX target_submissions_project ON target_submissions (origin, project, seq);
CREATE INDEX target_submissions_target ON target_submissions (target, seq);
CREATE INDEX target_submissions_state ON target_submissions (state, origin, project);

-- A target's own standing: 'submitted', 'returned', 'reviewed' until its
-- first approval, then 'approved' (an open adjustment leaves the approved
-- value in force); the 文号 and date of the approval in force.
ALTER TABLE targets ADD COLUMN approval TEXT NOT NULL DEFAULT 'submitted';
ALTER TABLE targets ADD COLUMN approved_doc TEXT;
ALTER TABLE targets ADD COLUMN approved_on TEXT;

-- How many of a project's targets are not approved: a payment, or the
-- move to 实施, needs none (when the node's rule asks for approval).
ALTER TABLE projects ADD COLUMN targets_unapproved INTEGER NOT NULL DEFAULT 0;

-- Targets set before this release are submissions awaiting review.
INSERT INTO target_submissions (id, origin, seq, project, target, kind, op, value, reason, state)
SELECT id, origin, CAST(substr(id, instr(id, '-') + 1) AS INTEGER), project, id, 'set', op, value,
       '', 'submitted'
FROM targets;
UPDATE projects SET targets_unapproved = target_count;
