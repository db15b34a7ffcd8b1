//! Who a caller is in the procedures: a focal point's region, and the President's own region,
//! come from the current Bureau term's roster (the `Roster` service), never from the caller.
//!
//! The current term is the roster whose term (`"2023-2026"`) contains today's year; when none
//! does, the most recent one. A focal point covers a region while one of the roster's members
//! for it names the caller's token subject; a replaced member no longer does. Called by
//! `api::auth` for callers in the `focal_point` and `president` roles.
//!
//! The procedure rules a new case pins are the Bureau's too: those adopted by the latest term
//! (begun by now) that adopted any, else the built-in defaults (issue 13 item 7).

use chrono::{DateTime, Datelike, Utc};

use super::{Engine, EngineError};
use crate::{
    domain::{CaseId, ProcedureRules, Region, case::CaseState, roster},
    store::EventStore,
};

/// The years a term such as `"2023-2026"` spans.
fn term_years(term: &str) -> Option<(i32, i32)> {
    let (a, b) = term.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// The rules in force and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesInForce {
    /// The rules.
    pub rules: ProcedureRules,
    /// The term whose Bureau adopted them, its decision and date; `None` for the built-in
    /// defaults.
    pub adopted: Option<(String, roster::AdoptedRules)>,
}

impl Engine {
    /// The procedure rules new cases pin at `now`: those adopted by the most recent Bureau term
    /// begun by `now` that adopted rules, else the built-in defaults.
    ///
    /// # Errors
    /// `Store` or `Corrupt`.
    pub async fn rules_in_force(&self, now: DateTime<Utc>) -> Result<RulesInForce, EngineError> {
        let year = now.year();
        let mut terms = self.terms_with_versions().await?;
        terms.retain(|(from, _, _, _)| *from <= year);
        // The answer depends only on these terms' streams, and any write to one of them
        // changes its version in the read model (written in the write's own transaction, by
        // whichever node): the same versions, the same rules. Every opening asks, so this
        // saves reading the terms' streams each time.
        let key: Vec<(CaseId, u64)> = terms.iter().map(|(_, _, id, v)| (*id, *v)).collect();
        if let Some((cached_key, rules)) = self
            .rules_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && *cached_key == key
        {
            return Ok(rules.clone());
        }
        let mut found = None;
        for (_, _, id, _) in terms.iter().rev() {
            if let CaseState::Roster(roster::State::Open(t)) = &*self.current(*id).await?.0
                && let Some(adopted) = &t.rules
            {
                found = Some(RulesInForce {
                    rules: adopted.rules.clone(),
                    adopted: Some((t.term.clone(), adopted.clone())),
                });
                break;
            }
        }
        let rules = found.unwrap_or_else(|| RulesInForce {
            rules: self.default_rules().clone(),
            adopted: None,
        });
        *self.rules_cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, rules.clone()));
        Ok(rules)
    }

    /// Every recorded term as (first year, last year, stream), oldest first.
    async fn terms(&self) -> Result<Vec<(i32, i32, CaseId)>, EngineError> {
        Ok(self
            .terms_with_versions()
            .await?
            .into_iter()
            .map(|(from, to, id, _)| (from, to, id))
            .collect())
    }

    /// [`Engine::terms`] with each stream's version in the read model.
    async fn terms_with_versions(&self) -> Result<Vec<(i32, i32, CaseId, u64)>, EngineError> {
        let rows = self.store().summaries_of_procedure("roster", 1000).await?;
        let mut terms: Vec<(i32, i32, CaseId, u64)> = rows
            .iter()
            .filter_map(|r| {
                let term = r.row.reference.strip_prefix("FP-")?;
                let (from, to) = term_years(term)?;
                Some((from, to, CaseId(r.row.stream.0), r.version))
            })
            .collect();
        terms.sort();
        Ok(terms)
    }

    /// The stream of the Bureau term current at `now`: the term whose years include `now`'s,
    /// else the latest that began before, else the latest recorded; `None` without any.
    ///
    /// # Errors
    /// `Store`.
    pub async fn current_roster_id(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<CaseId>, EngineError> {
        let year = now.year();
        let terms = self.terms().await?;
        let current = terms
            .iter()
            .rev()
            .find(|(from, to, _)| *from <= year && year <= *to)
            .or_else(|| terms.iter().rev().find(|(from, _, _)| *from <= year))
            .or(terms.last());
        Ok(current.map(|(_, _, id)| *id))
    }

    /// The roster of the Bureau term current at `now`, if any term was recorded.
    ///
    /// # Errors
    /// `Store` or `Corrupt`.
    pub async fn current_roster(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<roster::Term>, EngineError> {
        let Some(id) = self.current_roster_id(now).await? else {
            return Ok(None);
        };
        match std::sync::Arc::unwrap_or_clone(self.current(id).await?.0) {
            CaseState::Roster(roster::State::Open(t)) => Ok(Some(t)),
            _ => Ok(None),
        }
    }

    /// The region a focal point covers now: the region of the current roster's member that
    /// names `subject`; `None` when no member does (not appointed, or replaced).
    ///
    /// # Errors
    /// `Store` or `Corrupt`.
    pub async fn focal_point_region(
        &self,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Region>, EngineError> {
        Ok(self.current_roster(now).await?.and_then(|t| {
            t.members
                .iter()
                .find(|m| m.subjects.iter().any(|s| s == subject))
                .map(|m| m.region)
        }))
    }

    /// The President's own region in the current term.
    ///
    /// # Errors
    /// `Store` or `Corrupt`.
    pub async fn president_region(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<Region>, EngineError> {
        Ok(self.current_roster(now).await?.map(|t| t.president_region))
    }
}

#[cfg(test)]
mod tests {
    use super::term_years;

    #[test]
    fn terms_are_read_as_years() {
        assert_eq!(term_years("2023-2026"), Some((2023, 2026)));
        assert_eq!(term_years("x"), None);
    }
}
