//! The deadline scheduler's tick: every elapsed firing deadline is recorded through the one
//! write path, with request ids every node computes alike.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// Records every elapsed firing deadline (the scheduler's tick). Returns the cases fired.
    ///
    /// The request id is `deadline:<case>:<kind>:<due>` and the legal time is the first instant
    /// after the due day, so every node computes the same request: a second node's attempt is
    /// answered from the first one's stored result, or refused because nothing is pending.
    ///
    /// # Errors
    /// `Store` if the read model cannot be read; failures on single cases are logged.
    pub async fn fire_due_deadlines(&self) -> Result<Vec<CaseId>, EngineError> {
        let now = self.clock.now();
        // Deadlines end at midnight in their own zone (UTC-12 to UTC+14): every case due by
        // tomorrow's UTC date is a candidate, and the domain says whether its day has ended.
        let today = (now.date_naive() + Duration::days(1)).to_string();
        let mut fired = Vec::new();
        let mut after: Option<crate::store::DueCase> = None;
        loop {
            let due = self
                .store
                .due_deadlines(&today, after.as_ref(), 100)
                .await?;
            let Some(last) = due.last().cloned() else {
                break;
            };
            for case in due {
                let id = CaseId(case.stream.0);
                if self.set_aside_at(id) == Some(case.version) {
                    continue;
                }
                match self.fire_one(id, now).await {
                    Ok(true) => fired.push(id),
                    Ok(false) => {}
                    Err(e) => {
                        // Set aside until the case changes, so that it never holds the head of
                        // the due list; logged once per version.
                        tracing::error!(case = %id, version = case.version, error = %e,
                            "deadline cannot be recorded; case set aside until it changes");
                        self.set_aside
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(id, case.version);
                    }
                }
            }
            after = Some(last);
        }
        crate::metrics::add(crate::metrics::DEADLINES_FIRED, fired.len() as u64);
        Ok(fired)
    }

    fn set_aside_at(&self, id: CaseId) -> Option<u64> {
        self.set_aside
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied()
    }

    /// Records the elapsed firing deadline of one case; `Ok(false)` when there was nothing to
    /// record (not yet elapsed, or another node recorded it).
    async fn fire_one(&self, id: CaseId, now: DateTime<Utc>) -> Result<bool, EngineError> {
        let (state, _) = self.current(id).await?;
        let Some(deadline) = state.next_deadline() else {
            return Ok(false);
        };
        if !deadline.has_elapsed(now) {
            return Ok(false);
        }
        // The lapse's legal time: the first instant after the due day where the rules say.
        let lapse = deadline.ends_at();
        let request_id = format!(
            "{SCHEDULER_REQUEST_PREFIX}{id}:{}:{}",
            serde_json::to_value(deadline.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            deadline.due
        );
        let o = self
            .execute(
                &Principal::system(),
                id,
                None,
                &request_id,
                ActMeta::at(lapse),
                ApiCommand::DeadlineElapsed,
            )
            .await?;
        if !o.replayed {
            tracing::info!(case = %id, kind = ?deadline.kind, due = %deadline.due, "deadline elapsed");
        }
        Ok(!o.replayed)
    }
}
