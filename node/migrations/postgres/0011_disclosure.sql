-- 公告公示 (seed 000 五(五), seed 002 三): what each node made public, from
-- results_published entries, its own and, rolled up, its subtree's. One row
-- per notice: the 公示台账 (who published it is read from the entry).
CREATE TABLE publications (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    seq BIGINT NOT NULL,
    doc_no TEXT NOT NULL,
    title TEXT NOT NULL,
    scope TEXT NOT NULL,
    published_on TEXT NOT NULL,
    records BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    UNIQUE (origin, doc_no)
);
CREATE INDEX publications_order ON publications (published_on, origin, seq);

-- The allocations a notice made public, copied when it was applied (an
-- allocation never changes): what the public pages list. `latest` marks
-- each allocation's newest notice, the one the public list shows.
CREATE TABLE published_allocations (
    publication TEXT NOT NULL,
    allocation TEXT NOT NULL,
    origin TEXT NOT NULL,
    doc_no TEXT NOT NULL,
    dated TEXT NOT NULL,
    category TEXT NOT NULL,
    recipient TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    published_on TEXT NOT NULL,
    latest BIGINT NOT NULL,
    PRIMARY KEY (publication, allocation)
);
CREATE INDEX published_allocations_latest ON published_allocations (latest, dated, origin, allocation);
CREATE INDEX published_allocations_record ON published_allocations (allocation);

-- The projects a notice made public, with their funds, paid and status as
-- they stood at that point of the origin's chain; `classified` when this
-- node finds a payment of the project drawing on a classified (涉密)
-- category (never shown publicly); `latest` as above.
CREATE TABLE published_projects (
    publication TEXT NOT NULL,
    project TEXT NOT NULL,
    origin TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    township TEXT NOT NULL,
    village TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    budget_fen BIGINT NOT NULL,
    paid_fen BIGINT NOT NULL,
    status TEXT NOT NULL,
    classified BIGINT NOT NULL,
    published_on TEXT NOT NULL,
    latest BIGINT NOT NULL,
    PRIMARY KEY (publication, project)
);
CREATE INDEX published_projects_latest ON published_projects (latest, township, village, origin, code);
CREATE INDEX published_projects_record ON published_projects (project);
