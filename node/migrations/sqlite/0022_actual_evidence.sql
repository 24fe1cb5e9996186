-- Protocol version 6: an actual's evidence reference (佐证材料, issue 16).
-- No entry written before this release carries one, so every existing row
-- gets the empty reference the entries decode to; nothing to backfill.
ALTER TABLE target_actuals ADD COLUMN evidence TEXT NOT NULL DEFAULT '';
