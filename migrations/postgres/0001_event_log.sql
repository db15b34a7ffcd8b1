-- The event log (PostgreSQL). See src/store/mod.rs, src/store/postgres.rs and docs/audit.md.

-- The log lock and the last global position. Every write transaction locks this row first
-- (SELECT ... FOR UPDATE) and sets it last: positions are gapless and in commit order.
CREATE TABLE log_head (
    id            SMALLINT PRIMARY KEY CHECK (id = 1),
    last_position BIGINT   NOT NULL CHECK (last_position >= 0)
);
INSERT INTO log_head (id, last_position) VALUES (1, 0);

CREATE TABLE events (
    global_position BIGINT      PRIMARY KEY CHECK (global_position >= 1),
    case_id         UUID        NOT NULL,
    version         BIGINT      NOT NULL CHECK (version >= 1),
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    payload         BYTEA       NOT NULL,   -- exact bytes that were hashed (not JSONB: it re-normalizes)
    occurred_at     TIMESTAMPTZ NOT NULL,   -- microsecond precision, as hashed
    recorded_at     TIMESTAMPTZ NOT NULL,
    actor           TEXT        NOT NULL,
    role            TEXT        NOT NULL,
    request_id      TEXT        NOT NULL,
    correlation_id  UUID,
    prev_hash       BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
    hash            BYTEA       NOT NULL CHECK (length(hash) = 32),
    UNIQUE (case_id, version)
);
CREATE INDEX events_request_id ON events (request_id);

-- Idempotency: one row per committed write, in the same transaction as its events.
CREATE TABLE requests (
    request_id  TEXT        PRIMARY KEY,
    fingerprint BYTEA       NOT NULL CHECK (length(fingerprint) = 32),
    receipt     TEXT        NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);

-- Append-only, enforced by the database itself (row UPDATE/DELETE and TRUNCATE).
CREATE FUNCTION aspflow_reject_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'aspflow: % is append-only; % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION aspflow_reject_mutation();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION aspflow_reject_mutation();
CREATE TRIGGER requests_append_only BEFORE UPDATE OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION aspflow_reject_mutation();
CREATE TRIGGER requests_no_truncate BEFORE TRUNCATE ON requests
    FOR EACH STATEMENT EXECUTE FUNCTION aspflow_reject_mutation();
