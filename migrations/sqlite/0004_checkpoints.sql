-- Signed checkpoints of the whole log that the servers take on a schedule (`serve
-- --checkpoint-every`, `--checkpoint-events`), kept append-only like the events. `period` names
-- the slot a checkpoint fills (e.g. `every:3600:493850` for the 493,850th hour since 1970, or
-- `events:1000:12` for the twelfth thousand events); it is unique, so when several nodes race
-- for a slot exactly one checkpoint is stored.

CREATE TABLE checkpoints (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    period          TEXT    NOT NULL UNIQUE,
    public_key      TEXT    NOT NULL,      -- hex Ed25519 key that signed it
    head_position   INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,      -- RFC 3339, as in the checkpoint
    checkpoint_json TEXT    NOT NULL       -- format aspflow.checkpoint.v1, signed
);
CREATE INDEX checkpoints_by_key ON checkpoints (public_key, id);

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'aspflow: checkpoints is append-only; UPDATE is not allowed');
END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'aspflow: checkpoints is append-only; DELETE is not allowed');
END;
