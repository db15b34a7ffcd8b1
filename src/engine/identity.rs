//! Who a caller is in the procedures: a focal point's region, and the President's own region,
//! come from the current Bureau term's roster (the `Roster` service), never from the caller.
//!
//! The current term is the roster whose term (`"2023-2026"`) contains today's year; when none
//! does, the most recent one. A focal point covers a region while one of the roster's members
//! for it names the caller's token subject; a replaced member no longer does. Called by
//! `api::auth` for callers in the `focal_point` and `president` roles.

use chrono::{DateTime, Datelike, Utc};

use super::{Engine, EngineError};
use crate::{
    domain::{CaseId, Region, case::CaseState, roster},
    store::{EventStore, SummaryFilter},
};

/// The years a term such as `"2023-2026"` spans.
fn term_years(term: &str) -> Option<(i32, i32)> {
    let (a, b) = term.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

impl Engine {
    /// The roster of the Bureau term current at `now`, if any term was recorded.
    ///
    /// # Errors
    /// `Store` or `Corrupt`.
    pub async fn current_roster(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<roster::Term>, EngineError> {
        let rows = self
            .store()
            .list_summaries(&SummaryFilter {
                procedure: Some("roster".into()),
                limit: 1000,
                ..SummaryFilter::default()
            })
            .await?;
        let year = now.year();
        let mut terms: Vec<(i32, i32, CaseId)> = rows
            .iter()
            .filter_map(|r| {
                let term = r.row.reference.strip_prefix("FP-")?;
                let (from, to) = term_years(term)?;
                Some((from, to, CaseId(r.row.stream.0)))
            })
            .collect();
        terms.sort();
        let current = terms
            .iter()
            .rev()
            .find(|(from, to, _)| *from <= year && year <= *to)
            .or_else(|| terms.iter().rev().find(|(from, _, _)| *from <= year))
            .or(terms.last());
        let Some((_, _, id)) = current else {
            return Ok(None);
        };
        match self.current(*id).await?.0 {
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
