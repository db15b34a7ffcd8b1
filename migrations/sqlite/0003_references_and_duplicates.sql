-- Case references from a counter per prefix (e.g. `NC-2017-`), allocated atomically and without a
-- ceiling; the duplicate-referral rule as a unique index on the normalized (State, decision).

CREATE TABLE reference_counters (
    prefix      TEXT    PRIMARY KEY,      -- e.g. NC-2017-
    last_number INTEGER NOT NULL CHECK (last_number >= 0)
);
-- Carry on from the references already given (numeric maximum, not the alphabetical one).
INSERT INTO reference_counters (prefix, last_number)
    SELECT substr(reference, 1, 8), max(CAST(substr(reference, 9) AS INTEGER))
    FROM case_summaries
    WHERE reference GLOB '[A-Z][A-Z]-[0-9][0-9][0-9][0-9]-[0-9]*'
    GROUP BY substr(reference, 1, 8);

-- `<ISO code>|<decision symbol>`, upper-cased and without white space, for formal cases.
-- Rows written before this migration have none until `aspflow rebuild-projections`.
ALTER TABLE case_summaries ADD COLUMN duplicate_key TEXT;
CREATE UNIQUE INDEX case_summaries_duplicate_key ON case_summaries (duplicate_key)
    WHERE duplicate_key IS NOT NULL;
