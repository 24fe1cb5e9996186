-- Link health leaves the journal (issue 14). A node reports its link to its
-- parent at every report interval over POST /sync/v1/health, and the parent
-- relays the reports of its subtree the same way; such a report is stored
-- here without an entry (entry_id NULL), so for new reports this table is
-- not derived from the journal any more. Rows from link_reported entries
-- (earlier releases, older children) keep their entry_id and are still
-- written by that kind's projection. SQLite cannot drop a NOT NULL, so the
-- table is rebuilt with the same columns.
CREATE TABLE link_health_new (
    node TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    reported_ms INTEGER NOT NULL,
    entry_id TEXT,
    report BLOB NOT NULL
);
INSERT INTO link_health_new (node, parent, reported_ms, entry_id, report)
    SELECT node, parent, reported_ms, entry_id, report FROM link_health;
DROP TABLE link_health;
ALTER TABLE link_health_new RENAME TO link_health;
