-- Year-end self-evaluation (绩效自评), compiled reports, spot checks (抽查)
-- and their findings (protocol version 5), derived from the entries
-- `self_evaluation_recorded`, `evaluation_report_compiled`,
-- `spot_check_recorded` and `spot_check_finding` of every origin held: an
-- ancestor holds its subtree's, rolled up like payments. A 不符合 finding's
-- rectification is a row of follow_ups (migration 0009) keyed by the
-- finding's entry id.

-- One per project and year, with what the project was when evaluated.
CREATE TABLE self_evaluations (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    project TEXT NOT NULL,
    year INTEGER NOT NULL,
    department TEXT NOT NULL,
    budget_fen INTEGER NOT NULL,
    indicators INTEGER NOT NULL,
    met INTEGER NOT NULL,
    shortfall TEXT NOT NULL,
    measures TEXT NOT NULL,
    evaluated_on TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    UNIQUE (origin, project, year)
);
CREATE INDEX self_evaluations_year ON self_evaluations (year, origin);

-- Each indicator evaluated: the target as it stood, the actual, the
-- officer's completion (%), whether the target is met.
CREATE TABLE self_evaluation_indicators (
    evaluation TEXT NOT NULL,
    target TEXT NOT NULL,
    indicator TEXT NOT NULL,
    op TEXT NOT NULL,
    value TEXT NOT NULL,
    unit TEXT NOT NULL,
    actual TEXT NOT NULL,
    completion TEXT NOT NULL,
    met INTEGER NOT NULL,
    PRIMARY KEY (evaluation, target)
);

-- Compiled reports, every version (a later one of the same origin, year,
-- scope and department is the current one); figures as the entry states.
CREATE TABLE evaluation_reports (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    year INTEGER NOT NULL,
    scope TEXT NOT NULL,
    department TEXT NOT NULL,
    evaluations INTEGER NOT NULL,
    reports INTEGER NOT NULL,
    indicators INTEGER NOT NULL,
    met INTEGER NOT NULL,
    funds_fen INTEGER NOT NULL,
    summary TEXT NOT NULL,
    compiled_on TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX evaluation_reports_year ON evaluation_reports (year, origin, scope, department);

-- What each report names: an evaluation or a report it builds on.
CREATE TABLE evaluation_report_items (
    report TEXT NOT NULL,
    item TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (report, item)
);

CREATE TABLE spot_checks (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    year INTEGER NOT NULL,
    title TEXT NOT NULL,
    method TEXT NOT NULL,
    seed TEXT,
    checked_on TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX spot_checks_year ON spot_checks (year, origin);

CREATE TABLE spot_check_samples (
    spot_check TEXT NOT NULL,
    evaluation TEXT NOT NULL,
    PRIMARY KEY (spot_check, evaluation)
);

CREATE TABLE spot_check_findings (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    spot_check TEXT NOT NULL,
    evaluation TEXT NOT NULL,
    verdict TEXT NOT NULL,
    notes TEXT NOT NULL,
    found_on TEXT NOT NULL,
    UNIQUE (spot_check, evaluation)
);
