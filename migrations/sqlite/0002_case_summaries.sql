-- The read model: one row per case, written in the same transaction as the case's events and
-- rebuildable from the log (`aspflow rebuild-projections`). Not part of the audit trail.
CREATE TABLE case_summaries (
    case_id              TEXT PRIMARY KEY,
    reference            TEXT NOT NULL UNIQUE,
    procedure            TEXT NOT NULL,
    state                TEXT NOT NULL,
    closed               INTEGER NOT NULL,
    requested_state      TEXT NOT NULL,
    requested_state_name TEXT NOT NULL,
    region               TEXT NOT NULL,
    person_sought        TEXT NOT NULL,
    next_deadline        TEXT,             -- YYYY-MM-DD, the next deadline shown
    fires_after          TEXT,             -- YYYY-MM-DD, the next deadline the scheduler fires
    version              INTEGER NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX case_summaries_fires_after ON case_summaries (fires_after) WHERE fires_after IS NOT NULL;
CREATE INDEX case_summaries_state ON case_summaries (procedure, state);
