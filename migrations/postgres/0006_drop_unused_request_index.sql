-- `events_request_id` (migration 0001) served no query: a request's outcome is read from
-- `requests`, and events are read by case and version or by global position. Every event
-- appended still wrote an entry into it, on a page of its own (request ids are not in log
-- order), in the write path's one transaction (issue 14). Dropping an index changes no row of
-- the log; an auditor's ad hoc query by request id still runs, as a scan.
DROP INDEX IF EXISTS events_request_id;
