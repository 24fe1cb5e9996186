-- Link health leaves the journal (issue 14). A node reports its link to its
-- parent at every report interval over POST /sync/v1/health, and the parent
-- relays the reports of its subtree the same way; such a report is stored
-- here without an entry (entry_id NULL), so for new reports this table is
-- not derived from the journal any more. Rows from link_reported entries
-- (earlier releases, older children) keep their entry_id and are still
-- written by that kind's projection.
ALTER TABLE link_health ALTER COLUMN entry_id DROP NOT NULL;
