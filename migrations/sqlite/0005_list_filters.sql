-- Indexes for the list of cases (ListCases, the console), so that a page costs the same at 100
-- and at 100,000 cases (issue 14): each filter by procedure, requested State or region reads its
-- own cases in the list's order (case id), and the order by next deadline (cases without one
-- last) is read from an index instead of sorting every case for each page.
CREATE INDEX case_summaries_procedure ON case_summaries (procedure, case_id);
CREATE INDEX case_summaries_requested_state ON case_summaries (requested_state, case_id);
CREATE INDEX case_summaries_region ON case_summaries (region, case_id);
CREATE INDEX case_summaries_next_deadline
    ON case_summaries ((COALESCE(next_deadline, '9999-12-31')), case_id);
