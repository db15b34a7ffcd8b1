//! Writes to a Bureau term's roster stream (`FP-<term>`), created by its first command.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// Executes a roster command for a Bureau term (its stream is found by the reference
    /// `FP-<term>`, or created by the first command).
    ///
    /// # Errors
    /// As [`Engine::execute`].
    pub async fn roster(
        &self,
        principal: &Principal,
        request_id: &str,
        term: &str,
        act: ActMeta,
        make: impl Fn(CaseId) -> crate::domain::roster::Action,
    ) -> Result<Outcome, EngineError> {
        let scoped = scoped_request_id(principal, request_id);
        let request_id = scoped.as_str();
        let fp = fingerprint(&("roster", term, &act, &make(CaseId(Uuid::nil())), principal));
        let work = self.roster_new(principal, request_id, fp, term, act, &make);
        self.once(request_id, fp, Box::pin(work)).await
    }

    async fn roster_new(
        &self,
        principal: &Principal,
        request_id: &str,
        fp: Hash,
        term: &str,
        act: ActMeta,
        make: &impl Fn(CaseId) -> crate::domain::roster::Action,
    ) -> Result<Outcome, EngineError> {
        for _ in 0..MAX_ATTEMPTS {
            let existing = self.store.find_by_reference(&format!("FP-{term}")).await?;
            let (id, state, version) = match existing {
                Some(s) => {
                    let id = CaseId(s.0);
                    let (state, version) = self.current(id).await?;
                    (id, state, Some(version))
                }
                None => (
                    CaseId(self.ids.new_id()),
                    Arc::new(CaseState::new(ProcedureKind::Roster)),
                    None,
                ),
            };
            let mut action = make(id);
            // The new rules' version follows the rules in force (looked up on every attempt;
            // not part of the request's fingerprint, so a retry replays).
            if let crate::domain::roster::Action::AdoptProcedureRules {
                version_in_force, ..
            } = &mut action
            {
                *version_in_force = self.rules_in_force(self.clock.now()).await?.rules.version;
            }
            let command =
                crate::domain::case::CaseCommand::Roster(crate::domain::roster::Command {
                    act: act.clone(),
                    action,
                });
            let ctx = Context {
                now: self.clock.now(),
                principal: principal.clone(),
            };
            let decision = case::decide(&state, &command, &ctx)?;
            let new_state = decision
                .events
                .iter()
                .fold(CaseState::clone(&state), case::evolve);
            let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            let write =
                self.single_write(request_id, fp, id, expected, &decision.events, &new_state)?;
            if let Some(outcome) = self
                .commit(write, &state, &decision.events, new_state, true, None)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(EngineError::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}
