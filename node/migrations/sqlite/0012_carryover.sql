-- Carry-over (结转结余) and recall (收回 / 统筹), protocol version 4.

-- What the holder returned of an allocation (funds_recalled): its
-- available balance is amount - issued - paid - recalled, and the source's
-- issued_fen goes down by as much where the recall is applied.
ALTER TABLE allocations ADD COLUMN recalled_fen INTEGER NOT NULL DEFAULT 0;

-- Every recall, for figures as of a date: the holder (origin) returns
-- amount_fen of allocation_id to from_node's source_id.
CREATE TABLE recalls (
    id TEXT PRIMARY KEY,
    origin TEXT NOT NULL,
    allocation_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    from_node TEXT NOT NULL,
    doc_no TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    recalled_on TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (allocation_id, doc_no)
);
CREATE INDEX recalls_source ON recalls (source_id);

-- Why part of an allocation's balance on a day is carried over
-- (carry_over_explained): one row per allocation, day, reason and project,
-- the latest entry's figure (an entry with the same four replaces it).
CREATE TABLE carry_over_reasons (
    allocation_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    reason TEXT NOT NULL,
    project TEXT NOT NULL,
    origin TEXT NOT NULL,
    id TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    planned_on TEXT NOT NULL,
    note TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (allocation_id, as_of, reason, project)
);
CREATE INDEX carry_over_reasons_day ON carry_over_reasons (as_of);
