//! Procedure B: preventive good offices of the ASP President, assisted by the regional focal
//! points, when a specific and serious incident of non-cooperation on an arrest and surrender
//! request (art. 89) is imminent or ongoing. domain.md §3.2.
//!
//! `Alerted → Assessed → {Dismissed | GoodOfficesActive} → {Averted | IncidentOngoing} →
//! {PersonSurrendered | IncidentOccurred} → AwaitingCourtDetermination → {ClosedNoReferral |
//! ReferralDeferred | EscalatedToFormal}`. The Court's referral is the only bridge to
//! Procedure A: B16 closes this case and opens a linked formal case in the same decision
//! (see [`super::case`]). Every transition is a row of [`TRANSITIONS`].
//!
//! Rooms: [`types`] (the case, its phases and deadlines), [`transitions`] (the table),
//! [`commands`], [`events`] (stored names), [`decide`] and [`evolve`]; tests in `tests.rs`
//! (one per transition, the historical scenarios) and `time_and_exits_tests.rs`.

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod time_and_exits_tests;

mod commands;
mod decide;
mod events;
mod evolve;
mod transitions;
mod types;
pub use commands::*;
pub use decide::*;
pub use events::*;
pub use evolve::*;
pub use transitions::*;
pub use types::*;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ActMeta, CaseFacts, CaseId, Context, Deadline, DeadlineKind, Event, EventMeta, ProcedureRules,
    Rejection, RequestKind, StateStatus, check_not_before, check_not_in_future,
    consultation::{self, Consultations, Outcome},
    formal::{MootBasis, Referral, require_channels},
    legal::LegalCitation,
    permissions::{CommandKind, before_opening, on_open_case},
    require_text,
    table::{self, Transition, with_shared_rows},
    validate_facts,
};
use names::*;
