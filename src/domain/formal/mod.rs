//! Procedure A: the Assembly's formal response to a Court referral of non-cooperation
//! (Rome Statute art. 87(7) / 87(5)(b); ICC-ASP/10/Res.5 annex). domain.md §3.1.
//!
//! `Referred → {UnderUrgentBureauConsideration | UnderBureauConsideration} → AwaitingViews →
//! {ViewsOnFile | NoResponse} → AwaitingPublicMeeting → PublicMeetingConcluded →
//! ReportedToAssembly → OnAssemblyAgenda → ConsideredByAssembly → FollowUp → ClosedConcluded`;
//! `Suspended` while the finding is under appeal; closed early by `ClosedCooperationRestored`,
//! `ClosedReferralWithdrawn` or `ClosedMoot`. Every transition is a row of [`TRANSITIONS`].
//!
//! Pure: called by the engine through [`super::case`], replayed by the audit tools.
//!
//! Rooms: [`types`] (the case, its phases and deadlines), [`transitions`] (the table),
//! [`commands`], [`events`] (stored names), [`decide`], its [`guards`] and [`evolve`]; tests in `tests.rs`
//! (one per transition) and `time_and_exits_tests.rs` (legal time, corrections, ways out).

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod time_and_exits_tests;

mod commands;
mod decide;
mod events;
mod evolve;
mod guards;
mod transitions;
mod types;
pub use commands::*;
pub use decide::*;
pub use events::*;
pub use evolve::*;
pub(crate) use guards::*;
pub use transitions::*;
pub use types::*;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ActMeta, CaseFacts, CaseId, Context, Deadline, DeadlineKind, Event, EventMeta, ProcedureRules,
    Rejection, StateStatus, add_months, check_not_before, check_not_in_future,
    consultation::{self, Consultations, Outcome},
    legal::LegalCitation,
    permissions::{CommandKind, before_opening, on_open_case},
    require_text,
    table::{self, Transition, with_shared_rows},
    validate_facts,
};

use names::*;
