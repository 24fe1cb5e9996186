-- Replication health: each node's latest report on its link to its parent,
-- from link_reported entries (the report itself is the entry's JSON body).
CREATE TABLE link_health (
    node TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    reported_ms INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    report BLOB NOT NULL
);
