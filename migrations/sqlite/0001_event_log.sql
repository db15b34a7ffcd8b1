-- The event log (SQLite). See src/store/mod.rs and docs/audit.md.

-- The log lock and the last global position. Every write transaction reads it first under
-- BEGIN IMMEDIATE and sets it last, so positions are gapless and in commit order.
CREATE TABLE log_head (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_position INTEGER NOT NULL CHECK (last_position >= 0)
);
INSERT INTO log_head (id, last_position) VALUES (1, 0);

CREATE TABLE events (
    global_position INTEGER PRIMARY KEY CHECK (global_position >= 1),
    case_id         TEXT    NOT NULL,             -- lowercase hyphenated UUID
    version         INTEGER NOT NULL CHECK (version >= 1),
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         BLOB    NOT NULL,             -- the exact bytes that were hashed
    occurred_at     TEXT    NOT NULL,             -- 2013-07-15T09:30:00.000000Z
    recorded_at     TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    request_id      TEXT    NOT NULL,
    correlation_id  TEXT,
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    UNIQUE (case_id, version)
);
CREATE INDEX events_request_id ON events (request_id);

-- Idempotency: one row per committed write, in the same transaction as its events.
CREATE TABLE requests (
    request_id  TEXT PRIMARY KEY,
    fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),
    receipt     TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);

-- Append-only, enforced by the database itself.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'aspflow: events is append-only; UPDATE is not allowed');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'aspflow: events is append-only; DELETE is not allowed');
END;
CREATE TRIGGER requests_no_update BEFORE UPDATE ON requests
BEGIN
    SELECT RAISE(ABORT, 'aspflow: requests is append-only; UPDATE is not allowed');
END;
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
BEGIN
    SELECT RAISE(ABORT, 'aspflow: requests is append-only; DELETE is not allowed');
END;
