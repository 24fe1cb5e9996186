-- A sync alarm names the origin whose chain the refused data was about,
-- beside the peer that sent it (the relay caught lying), so an operator
-- sees which bureau's books were tampered with on the way. NULL for alarms
-- written before, and for alarms about no one chain.
ALTER TABLE sync_alarms ADD COLUMN origin TEXT;
