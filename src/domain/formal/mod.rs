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

#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ActMeta, CaseFacts, CaseId, Context, Deadline, DeadlineKind, Event, EventMeta, ProcedureRules,
    Rejection, StateStatus, add_days, add_months,
    consultation::{self, Consultations, Outcome},
    legal::LegalCitation,
    permissions::{CommandKind, before_opening, on_open_case},
    require_text,
    table::{self, Transition, with_shared_rows},
    validate_facts,
};

/// The article under which the Court found non-compliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralBasis {
    /// Art. 87(7): a State Party (or a State bound by a UNSC resolution).
    #[serde(rename = "art_87_7")]
    Art87_7,
    /// Art. 87(5)(b): a non-State Party under an ad hoc arrangement.
    #[serde(rename = "art_87_5b")]
    Art87_5b,
}

/// Addressees of a Court referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralTarget {
    /// The Assembly of States Parties.
    Asp,
    /// The UN Security Council.
    Unsc,
}

/// The Court's referral of a finding of non-cooperation (the A1 / B16 trigger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Referral {
    /// Art. 87(7) or 87(5)(b).
    pub legal_basis: ReferralBasis,
    /// The Chamber, e.g. "Pre-Trial Chamber II".
    pub chamber: String,
    /// The decision's symbol, e.g. `ICC-02/05-01/09-195`.
    pub decision_symbol: String,
    /// The decision's date.
    pub decision_date: NaiveDate,
    /// When the Court's Presidency transmitted it to the Assembly.
    pub transmitted_on: NaiveDate,
    /// The addressees.
    pub targets: Vec<ReferralTarget>,
    /// First day of the incident (visit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_from: Option<NaiveDate>,
    /// Last day of the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_to: Option<NaiveDate>,
    /// Where and at what event, e.g. "AU Summit, Johannesburg".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_location: Option<String>,
}

impl Referral {
    /// Checks the referral's own fields and that it goes to the Assembly.
    ///
    /// # Errors
    /// [`Rejection::NotReferredToAssembly`] for UNSC-only referrals; `InvalidField` otherwise.
    pub fn validate(&self, status: StateStatus) -> Result<(), Rejection> {
        require_text("referral.chamber", &self.chamber)?;
        require_text("referral.decision_symbol", &self.decision_symbol)?;
        if self.targets.is_empty() {
            return Err(Rejection::InvalidField {
                field: "referral.targets".into(),
                expected: "at least one addressee (asp, unsc)".into(),
            });
        }
        if !self.targets.contains(&ReferralTarget::Asp) {
            return Err(Rejection::NotReferredToAssembly {
                targets: self
                    .targets
                    .iter()
                    .map(|t| format!("{t:?}").to_uppercase())
                    .collect(),
            });
        }
        if self.transmitted_on < self.decision_date {
            return Err(Rejection::InvalidField {
                field: "referral.transmitted_on".into(),
                expected: format!(
                    "a date on or after the decision date {}",
                    self.decision_date
                ),
            });
        }
        if let (Some(from), Some(to)) = (self.incident_from, self.incident_to)
            && to < from
        {
            return Err(Rejection::InvalidField {
                field: "referral.incident_to".into(),
                expected: format!("a date on or after incident_from {from}"),
            });
        }
        match (self.legal_basis, status) {
            (
                ReferralBasis::Art87_7,
                StateStatus::StateParty | StateStatus::BoundByUnscResolution,
            )
            | (ReferralBasis::Art87_5b, StateStatus::NonStatePartyAdHoc) => Ok(()),
            (ReferralBasis::Art87_7, _) => Err(Rejection::InvalidField {
                field: "referral.legal_basis".into(),
                expected: "art. 87(5)(b) for a non-State Party (art. 87(7) concerns States Parties and States bound by a Security Council resolution)".into(),
            }),
            (ReferralBasis::Art87_5b, _) => Err(Rejection::InvalidField {
                field: "referral.legal_basis".into(),
                expected: "art. 87(7) for a State Party or a State bound by a Security Council resolution (art. 87(5)(b) concerns non-States Parties under an ad hoc arrangement)".into(),
            }),
        }
    }

    /// The citations an A1 event carries.
    pub fn citations(&self) -> Vec<LegalCitation> {
        let article = match self.legal_basis {
            ReferralBasis::Art87_7 => "art. 87(7)",
            ReferralBasis::Art87_5b => "art. 87(5)(b)",
        };
        vec![
            LegalCitation::rome(article),
            LegalCitation::rome("art. 112(2)(f)"),
            LegalCitation::procedures(),
        ]
    }
}

/// Whether the State attended the public meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Attendance {
    /// It attended and presented.
    Attended,
    /// It declined the invitation.
    Declined,
    /// It did not come, without declining.
    NoShow,
}

/// How an Assembly resolution was adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Adoption {
    /// By consensus.
    Consensus,
    /// By vote.
    Vote,
}

/// The Appeals Chamber's decision on the finding or referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppealOutcome {
    /// Finding and referral confirmed: the procedure resumes (A17a).
    FindingConfirmed,
    /// Referral reversed: the Assembly's case closes (A17b; Jordan 2019).
    ReferralReversed,
}

/// Why the matter became moot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MootBasis {
    /// The warrant was withdrawn.
    WarrantWithdrawn,
    /// The person was surrendered elsewhere.
    SurrenderedElsewhere,
    /// The person died.
    PersonDeceased,
    /// The case before the Court ended.
    CaseTerminated,
}

/// The phase of a formal case. Data needed by later steps travels with the phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// The finding has been transmitted and registered.
    Referred,
    /// An emergency Bureau meeting was convened.
    UnderUrgentBureauConsideration,
    /// Taken up at a regular Bureau meeting.
    UnderBureauConsideration,
    /// Open letter sent; the reply window runs.
    AwaitingViews {
        /// Last day for a timely reply.
        reply_deadline: NaiveDate,
    },
    /// Views received in time.
    ViewsOnFile,
    /// The reply window elapsed without views.
    NoResponse,
    /// The public meeting is scheduled and the State invited.
    AwaitingPublicMeeting {
        /// Its date.
        scheduled_for: NaiveDate,
    },
    /// The public meeting took place.
    PublicMeetingConcluded,
    /// The Bureau's report covering the matter was adopted.
    ReportedToAssembly,
    /// On the agenda of a plenary session.
    OnAssemblyAgenda {
        /// Session number.
        session_no: u32,
        /// Opening day.
        session_opening: NaiveDate,
    },
    /// The plenary discussed it.
    ConsideredByAssembly,
    /// Monitoring after the Assembly's resolution.
    FollowUp,
    /// The finding is under appeal.
    Suspended {
        /// The phase to return to if the finding is confirmed.
        prior: Box<Phase>,
        /// When the appeal was filed.
        since: NaiveDate,
    },
    /// Closed: cooperation restored (terminal).
    ClosedCooperationRestored,
    /// Closed: referral reversed or withdrawn (terminal).
    ClosedReferralWithdrawn,
    /// Closed: moot (terminal).
    ClosedMoot,
    /// Closed: the Assembly concluded (terminal).
    ClosedConcluded,
}

/// State names, as in domain.md and the transition table.
pub mod names {
    #![allow(missing_docs)]
    pub const REFERRED: &str = "Referred";
    pub const URGENT: &str = "UnderUrgentBureauConsideration";
    pub const REGULAR: &str = "UnderBureauConsideration";
    pub const AWAITING_VIEWS: &str = "AwaitingViews";
    pub const VIEWS_ON_FILE: &str = "ViewsOnFile";
    pub const NO_RESPONSE: &str = "NoResponse";
    pub const AWAITING_MEETING: &str = "AwaitingPublicMeeting";
    pub const MEETING_CONCLUDED: &str = "PublicMeetingConcluded";
    pub const REPORTED: &str = "ReportedToAssembly";
    pub const ON_AGENDA: &str = "OnAssemblyAgenda";
    pub const CONSIDERED: &str = "ConsideredByAssembly";
    pub const FOLLOW_UP: &str = "FollowUp";
    pub const SUSPENDED: &str = "Suspended";
    pub const CLOSED_RESTORED: &str = "ClosedCooperationRestored";
    pub const CLOSED_WITHDRAWN: &str = "ClosedReferralWithdrawn";
    pub const CLOSED_MOOT: &str = "ClosedMoot";
    pub const CLOSED_CONCLUDED: &str = "ClosedConcluded";
}
use names::*;

/// Every state of Procedure A.
pub const STATES: &[&str] = &[
    REFERRED,
    URGENT,
    REGULAR,
    AWAITING_VIEWS,
    VIEWS_ON_FILE,
    NO_RESPONSE,
    AWAITING_MEETING,
    MEETING_CONCLUDED,
    REPORTED,
    ON_AGENDA,
    CONSIDERED,
    FOLLOW_UP,
    SUSPENDED,
    CLOSED_RESTORED,
    CLOSED_WITHDRAWN,
    CLOSED_MOOT,
    CLOSED_CONCLUDED,
];

impl Phase {
    /// The state's name.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Referred => REFERRED,
            Phase::UnderUrgentBureauConsideration => URGENT,
            Phase::UnderBureauConsideration => REGULAR,
            Phase::AwaitingViews { .. } => AWAITING_VIEWS,
            Phase::ViewsOnFile => VIEWS_ON_FILE,
            Phase::NoResponse => NO_RESPONSE,
            Phase::AwaitingPublicMeeting { .. } => AWAITING_MEETING,
            Phase::PublicMeetingConcluded => MEETING_CONCLUDED,
            Phase::ReportedToAssembly => REPORTED,
            Phase::OnAssemblyAgenda { .. } => ON_AGENDA,
            Phase::ConsideredByAssembly => CONSIDERED,
            Phase::FollowUp => FOLLOW_UP,
            Phase::Suspended { .. } => SUSPENDED,
            Phase::ClosedCooperationRestored => CLOSED_RESTORED,
            Phase::ClosedReferralWithdrawn => CLOSED_WITHDRAWN,
            Phase::ClosedMoot => CLOSED_MOOT,
            Phase::ClosedConcluded => CLOSED_CONCLUDED,
        }
    }

    /// `true` for the four closed states.
    pub fn is_closed(&self) -> bool {
        CLOSED.contains(&self.name())
    }
}

/// Open states other than `Suspended` ("any open state" in domain.md).
const ACTIVE: &[&str] = &[
    REFERRED,
    URGENT,
    REGULAR,
    AWAITING_VIEWS,
    VIEWS_ON_FILE,
    NO_RESPONSE,
    AWAITING_MEETING,
    MEETING_CONCLUDED,
    REPORTED,
    ON_AGENDA,
    CONSIDERED,
    FOLLOW_UP,
];
/// Every open state, `Suspended` included.
const OPEN: &[&str] = &[
    REFERRED,
    URGENT,
    REGULAR,
    AWAITING_VIEWS,
    VIEWS_ON_FILE,
    NO_RESPONSE,
    AWAITING_MEETING,
    MEETING_CONCLUDED,
    REPORTED,
    ON_AGENDA,
    CONSIDERED,
    FOLLOW_UP,
    SUSPENDED,
];
/// Open states after the open letter.
const LETTER_SENT: &[&str] = &[
    AWAITING_VIEWS,
    VIEWS_ON_FILE,
    NO_RESPONSE,
    AWAITING_MEETING,
    MEETING_CONCLUDED,
    REPORTED,
    ON_AGENDA,
    CONSIDERED,
    FOLLOW_UP,
];
/// The terminal states.
pub const CLOSED: &[&str] = &[
    CLOSED_RESTORED,
    CLOSED_WITHDRAWN,
    CLOSED_MOOT,
    CLOSED_CONCLUDED,
];
const RECURRENCE_FROM: &[&str] = &[
    FOLLOW_UP,
    CLOSED_RESTORED,
    CLOSED_WITHDRAWN,
    CLOSED_MOOT,
    CLOSED_CONCLUDED,
];

/// Every transition of Procedure A (domain.md §3.1 A1-A20, extensions E1-E4, art. 97 §3.4).
pub const TRANSITIONS: &[Transition] = with_shared_rows![
    OPEN;
    Transition {
        id: "A1",
        command: CommandKind::OpenFormalCase,
        from: &["(none)"],
        event: "NonCooperationFindingReferred",
        to: REFERRED,
        guard: "basis art. 87(7) (State Party or UNSC-bound) or 87(5)(b) (non-Party, ad hoc); targets include the ASP (else NotReferredToAssembly); no case for the same State and decision (else DuplicateReferral)",
        legal: "Rome Statute art. 87(7) / 87(5)(b), art. 112(2)(f); ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A2",
        command: CommandKind::ConveneEmergencyBureauMeeting,
        from: &[REFERRED],
        event: "EmergencyBureauMeetingConvened",
        to: URGENT,
        guard: "urgency rationale given (urgent action may still bring about cooperation)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A3",
        command: CommandKind::SeizeBureau,
        from: &[REFERRED],
        event: "BureauSeized",
        to: REGULAR,
        guard: "regular Bureau meeting",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A4",
        command: CommandKind::SendOpenLetter,
        from: &[URGENT, REGULAR],
        event: "OpenLetterSent",
        to: AWAITING_VIEWS,
        guard: "reply deadline = sent_on + reply_window_days; E1: warned_measures required; letter sent once (else LetterAlreadySent)",
        legal: "Rome Statute art. 86 (art. 87(5)(a) ad hoc) and the request's articles (89 and 91, 92 or 93); ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A5",
        command: CommandKind::CirculateOpenLetter,
        from: LETTER_SENT,
        event: "OpenLetterCopiedToStatesParties",
        to: "(unchanged)",
        guard: "once (else AlreadyCirculated)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A6",
        command: CommandKind::RecordViews,
        from: &[AWAITING_VIEWS],
        event: "ViewsReceived",
        to: VIEWS_ON_FILE,
        guard: "received_on <= reply_deadline",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A6'",
        command: CommandKind::RecordViews,
        from: &[AWAITING_VIEWS],
        event: "ResponseDeadlineElapsed + LateViewsReceived",
        to: NO_RESPONSE,
        guard: "received_on > reply_deadline, deadline not yet recorded",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A7",
        command: CommandKind::RecordDeadlineElapsed,
        from: &[AWAITING_VIEWS],
        event: "ResponseDeadlineElapsed",
        to: NO_RESPONSE,
        guard: "now > reply_deadline (system)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A8",
        command: CommandKind::RecordViews,
        from: &[NO_RESPONSE],
        event: "LateViewsReceived",
        to: "(unchanged)",
        guard: "received_on > reply_deadline",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A9",
        command: CommandKind::SchedulePublicMeeting,
        from: &[VIEWS_ON_FILE, NO_RESPONSE],
        event: "PublicMeetingScheduled",
        to: AWAITING_MEETING,
        guard: "meeting date on or after the decision; the State is invited",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A10",
        command: CommandKind::RecordPublicMeeting,
        from: &[AWAITING_MEETING],
        event: "PublicMeetingHeld",
        to: MEETING_CONCLUDED,
        guard: "attendance: attended, declined or no-show; starts T_agenda_gap (else NoInvitationIssued when none was scheduled)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A11",
        command: CommandKind::AdoptBureauReport,
        from: &[MEETING_CONCLUDED, VIEWS_ON_FILE, NO_RESPONSE],
        event: "BureauReportAdopted",
        to: REPORTED,
        guard: "from ViewsOnFile/NoResponse only if rules.report_without_public_meeting",
        legal: "ICC-ASP/10/Res.5 annex para. 14(e)",
    },
    Transition {
        id: "A12",
        command: CommandKind::PlaceOnAssemblyAgenda,
        from: &[REPORTED],
        event: "MatterPlacedOnAssemblyAgenda",
        to: ON_AGENDA,
        guard: "session_opening >= public meeting + agenda_gap_months (else AgendaTooLate)",
        legal: "Rome Statute art. 112(2)(f); ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A13",
        command: CommandKind::RecordPlenaryDiscussion,
        from: &[ON_AGENDA],
        event: "PlenaryDiscussionHeld",
        to: CONSIDERED,
        guard: "same session as the agenda",
        legal: "Rome Statute art. 112(2)(f)",
    },
    Transition {
        id: "A14",
        command: CommandKind::RecordAssemblyResolution,
        from: &[CONSIDERED],
        event: "AssemblyResolutionAdopted",
        to: FOLLOW_UP,
        guard: "consensus or vote",
        legal: "Rome Statute art. 112(2)(f)",
    },
    Transition {
        id: "A15",
        command: CommandKind::RecordCooperationRestored,
        from: OPEN,
        event: "CooperationRestored",
        to: CLOSED_RESTORED,
        guard: "the request was executed, or the Court says so",
        legal: "Rome Statute art. 86",
    },
    Transition {
        id: "A16",
        command: CommandKind::RecordFindingAppealed,
        from: ACTIVE,
        event: "FindingAppealed",
        to: SUSPENDED,
        guard: "remembers the prior state",
        legal: "Rome Statute art. 82",
    },
    Transition {
        id: "A17a",
        command: CommandKind::RecordAppealJudgment,
        from: &[SUSPENDED],
        event: "FindingConfirmedOnAppeal",
        to: "(prior state)",
        guard: "outcome finding_confirmed; reply window extended by the suspension if rules say so",
        legal: "Rome Statute art. 83",
    },
    Transition {
        id: "A17b",
        command: CommandKind::RecordAppealJudgment,
        from: &[SUSPENDED],
        event: "ReferralReversedOnAppeal",
        to: CLOSED_WITHDRAWN,
        guard: "outcome referral_reversed",
        legal: "Rome Statute art. 83",
    },
    Transition {
        id: "A18",
        command: CommandKind::RecordMatterMoot,
        from: OPEN,
        event: "MatterBecameMoot",
        to: CLOSED_MOOT,
        guard: "warrant withdrawn, surrendered elsewhere, deceased or case ended",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A19",
        command: CommandKind::ConcludeConsideration,
        from: &[CONSIDERED, FOLLOW_UP],
        event: "ConsiderationConcluded",
        to: CLOSED_CONCLUDED,
        guard: "none",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "A20",
        command: CommandKind::RecordRecurrence,
        from: RECURRENCE_FROM,
        event: "RecurrenceReferred",
        to: "(unchanged; new linked case)",
        guard: "a new finding against the same State opens a new case with previous_case_id",
        legal: "Rome Statute art. 87(7)",
    },
    Transition {
        id: "E2",
        command: CommandKind::PublishLetter,
        from: LETTER_SENT,
        event: "OpenLetterPublished",
        to: "(unchanged)",
        guard: "extension E2 on",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "E3",
        command: CommandKind::ReferToSecurityCouncil,
        from: ACTIVE,
        event: "ReferredToSecurityCouncilByAssembly",
        to: "(unchanged)",
        guard: "extension E3 on; requested measures given",
        legal: "Rome Statute art. 112(2)(g)",
    },
    Transition {
        id: "E4",
        command: CommandKind::RecordDeadlineElapsed,
        from: &[REFERRED],
        event: "BureauActionOverdue",
        to: "(unchanged)",
        guard: "extension E4 on; now > transmitted_on + e4_bureau_action_days (system)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "E4'",
        command: CommandKind::SendUngaRequest,
        from: ACTIVE,
        event: "UngaRequestSent",
        to: "(unchanged)",
        guard: "extension E4 on",
        legal: "Rome Statute art. 112(2)(g)",
    },
];

/// A formal case once opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FormalCase {
    /// Its id.
    pub id: CaseId,
    /// Human reference, e.g. `NC-2017-0001`.
    pub reference: String,
    /// Facts captured on opening.
    pub facts: CaseFacts,
    /// The Court's referral.
    pub referral: Referral,
    /// The rules in force.
    pub rules: ProcedureRules,
    /// The current phase.
    pub phase: Phase,
    /// The preventive case this one escalated from.
    pub linked_preventive_case: Option<CaseId>,
    /// The earlier formal case against the same State (A20).
    pub previous_case: Option<CaseId>,
    /// Later cases opened on recurrences.
    pub recurrences: Vec<CaseId>,
    /// The open letter, once sent.
    pub letter: Option<LetterOnFile>,
    /// When the letter was circulated to all States Parties.
    pub circulated_on: Option<NaiveDate>,
    /// Views received (on time or late).
    pub views: Vec<ViewsOnRecord>,
    /// When the public meeting was held.
    pub public_meeting_held_on: Option<NaiveDate>,
    /// The Bureau report covering the matter.
    pub report_symbol: Option<String>,
    /// Assembly referrals to the Security Council (E3).
    pub unsc_referrals: Vec<NaiveDate>,
    /// Requests to the General Assembly (E4).
    pub unga_requests: Vec<NaiveDate>,
    /// E4: the Bureau's action was recorded overdue.
    pub bureau_action_overdue: bool,
    /// Art. 97 consultations.
    pub consultations: Consultations,
    /// Legal time of the latest event.
    pub last_occurred_at: DateTime<Utc>,
}

/// The open letter as the case remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LetterOnFile {
    /// Reference.
    pub letter_ref: String,
    /// When sent.
    pub sent_on: NaiveDate,
    /// Last day for a timely reply (moves if a suspension extends it).
    pub reply_deadline: NaiveDate,
}

/// Views as the case remembers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ViewsOnRecord {
    /// When received.
    pub received_on: NaiveDate,
    /// The document.
    pub document_ref: String,
    /// `true` if after the reply deadline.
    pub late: bool,
}

/// The state of a formal case stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum State {
    /// Nothing recorded yet.
    #[default]
    NotOpened,
    /// Opened by a referral.
    Open(Box<FormalCase>),
}

impl State {
    /// The state's name (`NotOpened` before A1).
    pub fn name(&self) -> &'static str {
        match self {
            State::NotOpened => "NotOpened",
            State::Open(c) => c.phase.name(),
        }
    }

    /// The case, once opened.
    pub fn case(&self) -> Option<&FormalCase> {
        match self {
            State::NotOpened => None,
            State::Open(c) => Some(c),
        }
    }

    /// Every deadline derived from the state, firing or informational.
    pub fn deadlines(&self) -> Vec<Deadline> {
        let Some(c) = self.case() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match &c.phase {
            Phase::Referred
                if c.rules.extensions.e4_prompt_response && !c.bureau_action_overdue =>
            {
                out.push(Deadline {
                    kind: DeadlineKind::BureauActionDue,
                    due: add_days(
                        c.referral.transmitted_on,
                        c.rules.extensions.e4_bureau_action_days,
                    ),
                    fires: true,
                });
            }
            Phase::AwaitingViews { reply_deadline } => out.push(Deadline {
                kind: DeadlineKind::ReplyWindow,
                due: *reply_deadline,
                fires: true,
            }),
            Phase::AwaitingPublicMeeting { scheduled_for } => out.push(Deadline {
                kind: DeadlineKind::PublicMeeting,
                due: *scheduled_for,
                fires: false,
            }),
            Phase::OnAssemblyAgenda {
                session_opening, ..
            } => out.push(Deadline {
                kind: DeadlineKind::AssemblySession,
                due: *session_opening,
                fires: false,
            }),
            Phase::Referred
            | Phase::UnderUrgentBureauConsideration
            | Phase::UnderBureauConsideration
            | Phase::ViewsOnFile
            | Phase::NoResponse
            | Phase::PublicMeetingConcluded
            | Phase::ReportedToAssembly
            | Phase::ConsideredByAssembly
            | Phase::FollowUp
            | Phase::Suspended { .. }
            | Phase::ClosedCooperationRestored
            | Phase::ClosedReferralWithdrawn
            | Phase::ClosedMoot
            | Phase::ClosedConcluded => {}
        }
        out
    }

    /// The next deadline that fires (the scheduler's question).
    pub fn next_deadline(&self) -> Option<Deadline> {
        self.deadlines().into_iter().find(|d| d.fires)
    }
}

/// A command: the act's facts and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Command {
    /// Legal time, documents, extra citations, confidentiality.
    pub act: ActMeta,
    /// What to do.
    pub action: Action,
}

/// What a formal-case command asks for.
// Commands and events are short-lived values moved once; boxing the opening's facts would only
// add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A1: register the Court's referral and open the case.
    Open {
        /// The new case's id (generated by the engine).
        case_id: CaseId,
        /// Its human reference (assigned by the engine).
        reference: String,
        /// Facts of the case.
        facts: CaseFacts,
        /// The referral.
        referral: Referral,
        /// Rules to pin.
        rules: ProcedureRules,
        /// The preventive case it escalates (B16).
        linked_preventive_case: Option<CaseId>,
        /// The earlier formal case against the same State (A20).
        previous_case: Option<CaseId>,
        /// Looked up by the engine: a case already opened on the same State and decision.
        existing_case_for_decision: Option<CaseId>,
    },
    /// A2.
    ConveneEmergencyBureauMeeting {
        /// Meeting number.
        meeting_no: String,
        /// Why urgent action may still help.
        urgency_rationale: String,
        /// Quorum present ([A]).
        quorum_present: bool,
    },
    /// A3.
    SeizeBureau {
        /// Meeting number.
        meeting_no: String,
        /// Quorum present ([A]).
        quorum_present: bool,
    },
    /// A4.
    SendOpenLetter {
        /// Letter reference.
        letter_ref: String,
        /// Signatory (the President).
        signatory: String,
        /// Addressee (Head of State / Foreign Minister).
        addressee: String,
        /// Obligations recalled, e.g. "art. 86", "art. 89"; empty: those of the request
        /// ([`crate::domain::CaseFacts::obligations`]).
        obligations_recalled: Vec<String>,
        /// E1: measures the Assembly could adopt.
        warned_measures: Vec<String>,
        /// E2: channels the letter is published on when sent.
        published_channels: Vec<String>,
    },
    /// A5.
    CirculateOpenLetter {
        /// Distribution list reference.
        distribution_list_ref: String,
    },
    /// E2.
    PublishLetter {
        /// Channels (website, social media).
        channels: Vec<String>,
        /// Where.
        url: Option<String>,
    },
    /// A6 / A8.
    RecordViews {
        /// The document.
        document_ref: String,
        /// Gist.
        summary: String,
        /// Grounds asserted (immunity, AU decision, art. 97 consultation sought, ...).
        asserted_grounds: Vec<String>,
    },
    /// A7 / E4: the scheduler records that the next deadline has elapsed.
    RecordDeadlineElapsed,
    /// A9.
    SchedulePublicMeeting {
        /// Meeting date.
        date: NaiveDate,
        /// New York or The Hague.
        venue: String,
        /// Invitation reference.
        invitation_ref: String,
    },
    /// A10.
    RecordPublicMeeting {
        /// Attendance.
        attendance: Attendance,
        /// The State's statement, if any.
        state_statement_ref: Option<String>,
        /// Record of the meeting.
        record_ref: String,
    },
    /// A11.
    AdoptBureauReport {
        /// e.g. ICC-ASP/17/31.
        report_symbol: String,
        /// Recommendations.
        recommendations: Vec<String>,
        /// Omnibus language reference.
        omnibus_language_ref: Option<String>,
    },
    /// A12.
    PlaceOnAssemblyAgenda {
        /// Session number.
        session_no: u32,
        /// Session opening.
        session_opening: NaiveDate,
        /// Agenda item.
        agenda_item: String,
    },
    /// A13.
    RecordPlenaryDiscussion {
        /// Session number.
        session_no: u32,
        /// Speakers.
        speakers: Vec<String>,
        /// Record reference.
        record_ref: String,
    },
    /// A14.
    RecordAssemblyResolution {
        /// e.g. ICC-ASP/17/Res.5.
        resolution_symbol: String,
        /// Paragraphs concerned.
        paragraphs: Vec<String>,
        /// Consensus or vote.
        adoption: Adoption,
    },
    /// A15.
    RecordCooperationRestored {
        /// What happened.
        basis: String,
        /// The Court's notice.
        court_notice_ref: Option<String>,
    },
    /// A16.
    RecordFindingAppealed {
        /// e.g. ICC-02/05-01/09 OA2.
        appeal_symbol: String,
    },
    /// A17.
    RecordAppealJudgment {
        /// Appeal symbol.
        appeal_symbol: String,
        /// Outcome.
        outcome: AppealOutcome,
    },
    /// A18.
    RecordMatterMoot {
        /// Why.
        basis: MootBasis,
        /// The Court's notice.
        court_notice_ref: Option<String>,
    },
    /// A19.
    ConcludeConsideration,
    /// A20.
    RecordRecurrence {
        /// The new case.
        new_case_id: CaseId,
        /// The new finding's decision.
        decision_symbol: String,
    },
    /// E3.
    ReferToSecurityCouncil {
        /// Measures requested (e.g. targeted sanctions).
        requested_measures: Vec<String>,
    },
    /// E4.
    SendUngaRequest {
        /// Reference.
        request_ref: String,
        /// Measures requested.
        requested_measures: Vec<String>,
    },
    /// Amend the pinned rules.
    AmendRules {
        /// New rules (their version is set to the current one + 1).
        rules: ProcedureRules,
    },
    /// Art. 97 consultation acts.
    Consultation(consultation::Action),
}

impl Action {
    /// The permission-table kind.
    pub fn kind(&self) -> CommandKind {
        use CommandKind as K;
        match self {
            Action::Open { .. } => K::OpenFormalCase,
            Action::ConveneEmergencyBureauMeeting { .. } => K::ConveneEmergencyBureauMeeting,
            Action::SeizeBureau { .. } => K::SeizeBureau,
            Action::SendOpenLetter { .. } => K::SendOpenLetter,
            Action::CirculateOpenLetter { .. } => K::CirculateOpenLetter,
            Action::PublishLetter { .. } => K::PublishLetter,
            Action::RecordViews { .. } => K::RecordViews,
            Action::RecordDeadlineElapsed => K::RecordDeadlineElapsed,
            Action::SchedulePublicMeeting { .. } => K::SchedulePublicMeeting,
            Action::RecordPublicMeeting { .. } => K::RecordPublicMeeting,
            Action::AdoptBureauReport { .. } => K::AdoptBureauReport,
            Action::PlaceOnAssemblyAgenda { .. } => K::PlaceOnAssemblyAgenda,
            Action::RecordPlenaryDiscussion { .. } => K::RecordPlenaryDiscussion,
            Action::RecordAssemblyResolution { .. } => K::RecordAssemblyResolution,
            Action::RecordCooperationRestored { .. } => K::RecordCooperationRestored,
            Action::RecordFindingAppealed { .. } => K::RecordFindingAppealed,
            Action::RecordAppealJudgment { .. } => K::RecordAppealJudgment,
            Action::RecordMatterMoot { .. } => K::RecordMatterMoot,
            Action::ConcludeConsideration => K::ConcludeConsideration,
            Action::RecordRecurrence { .. } => K::RecordRecurrence,
            Action::ReferToSecurityCouncil { .. } => K::ReferToSecurityCouncil,
            Action::SendUngaRequest { .. } => K::SendUngaRequest,
            Action::AmendRules { .. } => K::AmendRules,
            Action::Consultation(a) => a.kind(),
        }
    }
}

/// What happened in a formal case. Variant names are the stored event names: never rename.
#[allow(clippy::large_enum_variant)] // see `Action`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// A1.
    NonCooperationFindingReferred {
        /// The case opened.
        case_id: CaseId,
        /// Its human reference.
        reference: String,
        /// Facts.
        facts: CaseFacts,
        /// The referral.
        referral: Referral,
        /// Rules pinned.
        rules: ProcedureRules,
        /// Escalated from.
        linked_preventive_case: Option<CaseId>,
        /// Recurrence of.
        previous_case: Option<CaseId>,
        /// Art. 97 consultations carried over from the preventive case on escalation (B16),
        /// as they stood; empty otherwise. Schema version 2; upcast from version 1 as empty.
        carried_consultations: Consultations,
    },
    /// A2.
    EmergencyBureauMeetingConvened {
        /// Date.
        meeting_date: NaiveDate,
        /// Number.
        meeting_no: String,
        /// Why urgent.
        urgency_rationale: String,
        /// Quorum.
        quorum_present: bool,
    },
    /// A3.
    BureauSeized {
        /// Date.
        meeting_date: NaiveDate,
        /// Number.
        meeting_no: String,
        /// Quorum.
        quorum_present: bool,
    },
    /// A4.
    OpenLetterSent {
        /// Reference.
        letter_ref: String,
        /// Signatory.
        signatory: String,
        /// Addressee.
        addressee: String,
        /// Sent on.
        sent_on: NaiveDate,
        /// Last day for a timely reply.
        reply_deadline: NaiveDate,
        /// Obligations recalled.
        obligations_recalled: Vec<String>,
        /// Always true: the letter requests the State's views.
        views_requested: bool,
        /// E1 warned measures.
        warned_measures: Vec<String>,
        /// E2: channels the letter is published on when sent (schema version 2; upcast from
        /// version 1 as an empty list).
        published_channels: Vec<String>,
    },
    /// A5.
    OpenLetterCopiedToStatesParties {
        /// When.
        circulated_on: NaiveDate,
        /// Distribution list.
        distribution_list_ref: String,
    },
    /// E2.
    OpenLetterPublished {
        /// When.
        published_on: NaiveDate,
        /// Channels.
        channels: Vec<String>,
        /// Where.
        url: Option<String>,
    },
    /// A6.
    ViewsReceived {
        /// When.
        received_on: NaiveDate,
        /// Document.
        document_ref: String,
        /// Gist.
        summary: String,
        /// Grounds.
        asserted_grounds: Vec<String>,
    },
    /// A8.
    LateViewsReceived {
        /// When.
        received_on: NaiveDate,
        /// The missed deadline.
        reply_deadline: NaiveDate,
        /// Document.
        document_ref: String,
        /// Gist.
        summary: String,
        /// Grounds.
        asserted_grounds: Vec<String>,
    },
    /// A7.
    ResponseDeadlineElapsed {
        /// The deadline.
        deadline: NaiveDate,
        /// When the engine checked.
        checked_at: DateTime<Utc>,
    },
    /// E4 SLA.
    BureauActionOverdue {
        /// The due day.
        due: NaiveDate,
        /// When the engine checked.
        checked_at: DateTime<Utc>,
    },
    /// A9.
    PublicMeetingScheduled {
        /// Date.
        date: NaiveDate,
        /// Venue.
        venue: String,
        /// Invitation.
        invitation_ref: String,
        /// Always "ambassadorial".
        level: String,
    },
    /// A10.
    PublicMeetingHeld {
        /// When.
        held_on: NaiveDate,
        /// Attendance.
        attendance: Attendance,
        /// The State's statement.
        state_statement_ref: Option<String>,
        /// Record.
        record_ref: String,
    },
    /// A11.
    BureauReportAdopted {
        /// Symbol.
        report_symbol: String,
        /// When.
        adopted_on: NaiveDate,
        /// Recommendations.
        recommendations: Vec<String>,
        /// Omnibus language.
        omnibus_language_ref: Option<String>,
        /// Whether a public meeting preceded it.
        public_meeting_held: bool,
    },
    /// A12.
    MatterPlacedOnAssemblyAgenda {
        /// Session.
        session_no: u32,
        /// Opening.
        session_opening: NaiveDate,
        /// Agenda item.
        agenda_item: String,
        /// The agenda-gap check made (none when no public meeting was held).
        gap_check: Option<GapCheck>,
    },
    /// A13.
    PlenaryDiscussionHeld {
        /// Session.
        session_no: u32,
        /// Date.
        date: NaiveDate,
        /// Speakers.
        speakers: Vec<String>,
        /// Record.
        record_ref: String,
    },
    /// A14.
    AssemblyResolutionAdopted {
        /// Symbol.
        resolution_symbol: String,
        /// Paragraphs.
        paragraphs: Vec<String>,
        /// How.
        adoption: Adoption,
    },
    /// A15.
    CooperationRestored {
        /// What happened.
        basis: String,
        /// Court notice.
        court_notice_ref: Option<String>,
        /// When.
        date: NaiveDate,
    },
    /// A16.
    FindingAppealed {
        /// Appeal.
        appeal_symbol: String,
        /// Filed on.
        filed_on: NaiveDate,
    },
    /// A17a.
    FindingConfirmedOnAppeal {
        /// Appeal.
        appeal_symbol: String,
        /// Judgment date.
        judgment_date: NaiveDate,
        /// The reply deadline after extension, when the case was awaiting views.
        reply_deadline_extended_to: Option<NaiveDate>,
    },
    /// A17b.
    ReferralReversedOnAppeal {
        /// Appeal.
        appeal_symbol: String,
        /// Judgment date.
        judgment_date: NaiveDate,
    },
    /// A18.
    MatterBecameMoot {
        /// Why.
        basis: MootBasis,
        /// Court notice.
        court_notice_ref: Option<String>,
        /// When.
        date: NaiveDate,
    },
    /// A19.
    ConsiderationConcluded {
        /// When.
        concluded_on: NaiveDate,
    },
    /// A20.
    RecurrenceReferred {
        /// The new case.
        new_case_id: CaseId,
        /// The new decision.
        decision_symbol: String,
    },
    /// E3.
    ReferredToSecurityCouncilByAssembly {
        /// Measures requested.
        requested_measures: Vec<String>,
        /// When.
        referred_on: NaiveDate,
    },
    /// E4.
    UngaRequestSent {
        /// Reference.
        request_ref: String,
        /// Measures requested.
        requested_measures: Vec<String>,
        /// When.
        sent_on: NaiveDate,
    },
    /// Rules amended.
    RulesAmended {
        /// Previous version.
        previous_version: u32,
        /// The new rules.
        rules: ProcedureRules,
    },
    /// Art. 97.
    ConsultationRequested(consultation::Requested),
    /// Art. 97.
    ConsultationHeld(consultation::Held),
    /// Art. 97.
    ConsultationAnswered(consultation::Answered),
    /// E6.
    AssemblyRepresentativeJoinedConsultation(consultation::RepresentativeJoined),
}

/// The agenda-gap check recorded with A12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GapCheck {
    /// The public meeting's date.
    pub public_meeting_date: NaiveDate,
    /// The gap required, in months.
    pub months: u32,
    /// The earliest opening allowed.
    pub earliest_allowed: NaiveDate,
}

/// A formal-case event.
pub type FormalEvent = Event<Body>;

fn date_of(act: &ActMeta) -> NaiveDate {
    act.occurred_at.date_naive()
}

fn rome(p: &str) -> LegalCitation {
    LegalCitation::rome(p)
}

/// Checks that the command may be issued in the case's current state, with the most specific
/// rejection when it may not.
fn check_state(case: &FormalCase, kind: CommandKind) -> Result<(), Rejection> {
    let specific = match (&case.phase, kind, &case.letter) {
        (phase, _, _) if phase.is_closed() => None,
        (Phase::Suspended { since, .. }, _, _) => Some(Rejection::CaseSuspended {
            suspended_since: *since,
        }),
        (_, CommandKind::SendOpenLetter, Some(l)) => {
            Some(Rejection::LetterAlreadySent { sent_on: l.sent_on })
        }
        (Phase::ViewsOnFile | Phase::NoResponse, CommandKind::RecordPublicMeeting, _) => {
            Some(Rejection::NoInvitationIssued)
        }
        _ => None,
    };
    table::check_state(
        TRANSITIONS,
        kind,
        case.phase.name(),
        case.phase.is_closed(),
        specific,
    )
}

/// Checks whether `principal` could issue `kind` now (permission and state; not the command's
/// own fields). Used by `available_actions`.
pub fn precheck(state: &State, kind: CommandKind, ctx: &Context) -> Result<(), Rejection> {
    let open = CommandKind::OpenFormalCase;
    let case = match state {
        State::NotOpened => return before_opening(&ctx.principal, kind, open),
        State::Open(case) => case,
    };
    on_open_case(
        &ctx.principal,
        kind,
        open,
        case.facts.requested_state.region,
    )?;
    check_state(case, kind)?;
    case.rules.require_extension_for(kind)?;
    if kind == CommandKind::RecordDeadlineElapsed {
        return match state.next_deadline() {
            None => Err(Rejection::NoDeadlinePending {
                state: case.phase.name().to_owned(),
            }),
            Some(d) if !d.has_elapsed(ctx.now) => Err(Rejection::DeadlineNotReached {
                kind: d.kind,
                due: d.due,
                now: ctx.now,
            }),
            Some(_) => Ok(()),
        };
    }
    Ok(())
}

/// Decides a command against the current state.
///
/// # Errors
/// A named [`Rejection`]: permission, state, guard or field.
pub fn decide(state: &State, cmd: &Command, ctx: &Context) -> Result<Vec<FormalEvent>, Rejection> {
    let kind = cmd.action.kind();
    precheck(state, kind, ctx)?;
    let act = &cmd.act;
    let on = date_of(act);
    let case = match (state, &cmd.action) {
        (
            State::NotOpened,
            Action::Open {
                case_id,
                reference,
                facts,
                referral,
                rules,
                linked_preventive_case,
                previous_case,
                existing_case_for_decision,
            },
        ) => {
            validate_facts(facts)?;
            // A focal point opens a case only for a State of its own region.
            crate::domain::permissions::authorize(
                &ctx.principal,
                cmd.action.kind(),
                Some(facts.requested_state.region),
            )?;
            require_text("reference", reference)?;
            referral.validate(facts.requested_state.status)?;
            rules.validate()?;
            if let Some(existing) = existing_case_for_decision {
                return Err(Rejection::DuplicateReferral {
                    existing_case: *existing,
                    decision_symbol: referral.decision_symbol.clone(),
                    state: facts.requested_state.iso_code.clone(),
                });
            }
            let body = Body::NonCooperationFindingReferred {
                case_id: *case_id,
                reference: reference.clone(),
                facts: facts.clone(),
                referral: referral.clone(),
                rules: rules.clone(),
                linked_preventive_case: *linked_preventive_case,
                previous_case: *previous_case,
                carried_consultations: Consultations::default(),
            };
            let meta = EventMeta::new(act, ctx, referral.citations(), rules.version);
            return Ok(vec![Event { meta, body }]);
        }
        // `precheck` already refused every other command before opening, and opening twice.
        (State::NotOpened, _) => return Err(Rejection::CaseNotOpened),
        (State::Open(_), Action::Open { .. }) => return Err(Rejection::CaseAlreadyOpened),
        (State::Open(c), _) => c,
    };
    let rules = &case.rules;
    let ev = |base: Vec<LegalCitation>, body: Body| Event {
        meta: EventMeta::new(act, ctx, base, rules.version),
        body,
    };
    let procedures = || vec![LegalCitation::procedures()];
    let events = match &cmd.action {
        Action::Open { .. } => return Err(Rejection::CaseAlreadyOpened),
        Action::ConveneEmergencyBureauMeeting {
            meeting_no,
            urgency_rationale,
            quorum_present,
        } => {
            require_text("meeting_no", meeting_no)?;
            require_text("urgency_rationale", urgency_rationale)?;
            vec![ev(
                procedures(),
                Body::EmergencyBureauMeetingConvened {
                    meeting_date: on,
                    meeting_no: meeting_no.clone(),
                    urgency_rationale: urgency_rationale.clone(),
                    quorum_present: *quorum_present,
                },
            )]
        }
        Action::SeizeBureau {
            meeting_no,
            quorum_present,
        } => {
            require_text("meeting_no", meeting_no)?;
            vec![ev(
                procedures(),
                Body::BureauSeized {
                    meeting_date: on,
                    meeting_no: meeting_no.clone(),
                    quorum_present: *quorum_present,
                },
            )]
        }
        Action::SendOpenLetter {
            letter_ref,
            signatory,
            addressee,
            obligations_recalled,
            warned_measures,
            published_channels,
        } => {
            require_text("letter_ref", letter_ref)?;
            if !published_channels.is_empty() {
                rules.require(rules.extensions.e2_publication, "E2", "publication")?;
            }
            require_text("signatory", signatory)?;
            require_text("addressee", addressee)?;
            if rules.extensions.e1_warned_measures
                && warned_measures.iter().all(|m| m.trim().is_empty())
            {
                return Err(Rejection::WarnedMeasuresRequired);
            }
            // The obligations of the request concerned (art. 89, 92 or 93...), unless the
            // President's office names others.
            let mut obligations = obligations_recalled.clone();
            if obligations.is_empty() {
                obligations = case.facts.obligations();
            }
            let mut cited = case.facts.obligation_citations();
            cited.push(LegalCitation::procedures());
            vec![ev(
                cited,
                Body::OpenLetterSent {
                    letter_ref: letter_ref.clone(),
                    signatory: signatory.clone(),
                    addressee: addressee.clone(),
                    sent_on: on,
                    reply_deadline: add_days(on, rules.reply_window_days),
                    obligations_recalled: obligations,
                    views_requested: true,
                    warned_measures: warned_measures.clone(),
                    published_channels: published_channels.clone(),
                },
            )]
        }
        Action::CirculateOpenLetter {
            distribution_list_ref,
        } => {
            if let Some(circulated_on) = case.circulated_on {
                return Err(Rejection::AlreadyCirculated { circulated_on });
            }
            require_text("distribution_list_ref", distribution_list_ref)?;
            vec![ev(
                procedures(),
                Body::OpenLetterCopiedToStatesParties {
                    circulated_on: on,
                    distribution_list_ref: distribution_list_ref.clone(),
                },
            )]
        }
        Action::PublishLetter { channels, url } => {
            require_channels(channels)?;
            vec![ev(
                procedures(),
                Body::OpenLetterPublished {
                    published_on: on,
                    channels: channels.clone(),
                    url: url.clone(),
                },
            )]
        }
        Action::RecordViews {
            document_ref,
            summary,
            asserted_grounds,
        } => {
            require_text("document_ref", document_ref)?;
            let letter = case.letter.as_ref().ok_or(Rejection::NotAllowedInState {
                command: kind.as_str().into(),
                state: case.phase.name().into(),
                allowed_from: vec![AWAITING_VIEWS.into(), NO_RESPONSE.into()],
            })?;
            if on < letter.sent_on {
                return Err(Rejection::InvalidField {
                    field: "occurred_at".into(),
                    expected: format!(
                        "the day the views were received, on or after the letter of {}",
                        letter.sent_on
                    ),
                });
            }
            let late = Body::LateViewsReceived {
                received_on: on,
                reply_deadline: letter.reply_deadline,
                document_ref: document_ref.clone(),
                summary: summary.clone(),
                asserted_grounds: asserted_grounds.clone(),
            };
            match &case.phase {
                Phase::AwaitingViews { reply_deadline } if on <= *reply_deadline => {
                    vec![ev(
                        procedures(),
                        Body::ViewsReceived {
                            received_on: on,
                            document_ref: document_ref.clone(),
                            summary: summary.clone(),
                            asserted_grounds: asserted_grounds.clone(),
                        },
                    )]
                }
                Phase::AwaitingViews { reply_deadline } => vec![
                    ev(
                        procedures(),
                        Body::ResponseDeadlineElapsed {
                            deadline: *reply_deadline,
                            checked_at: ctx.now,
                        },
                    ),
                    ev(procedures(), late),
                ],
                _ => vec![ev(procedures(), late)],
            }
        }
        Action::RecordDeadlineElapsed => {
            // `precheck` established that a firing deadline exists and has elapsed.
            let d = state.next_deadline().ok_or(Rejection::NoDeadlinePending {
                state: case.phase.name().into(),
            })?;
            let body = match d.kind {
                DeadlineKind::ReplyWindow => Body::ResponseDeadlineElapsed {
                    deadline: d.due,
                    checked_at: ctx.now,
                },
                DeadlineKind::BureauActionDue => Body::BureauActionOverdue {
                    due: d.due,
                    checked_at: ctx.now,
                },
                DeadlineKind::PublicMeeting
                | DeadlineKind::AssemblySession
                | DeadlineKind::ExpectedArrival
                | DeadlineKind::ExpectedDeparture
                | DeadlineKind::CourtViewsDue => {
                    return Err(Rejection::NoDeadlinePending {
                        state: case.phase.name().into(),
                    });
                }
            };
            vec![ev(procedures(), body)]
        }
        Action::SchedulePublicMeeting {
            date,
            venue,
            invitation_ref,
        } => {
            require_text("venue", venue)?;
            require_text("invitation_ref", invitation_ref)?;
            if *date < on {
                return Err(Rejection::InvalidField {
                    field: "date".into(),
                    expected: format!(
                        "a meeting date on or after the decision to schedule it ({on})"
                    ),
                });
            }
            vec![ev(
                procedures(),
                Body::PublicMeetingScheduled {
                    date: *date,
                    venue: venue.clone(),
                    invitation_ref: invitation_ref.clone(),
                    level: "ambassadorial".into(),
                },
            )]
        }
        Action::RecordPublicMeeting {
            attendance,
            state_statement_ref,
            record_ref,
        } => {
            require_text("record_ref", record_ref)?;
            vec![ev(
                procedures(),
                Body::PublicMeetingHeld {
                    held_on: on,
                    attendance: *attendance,
                    state_statement_ref: state_statement_ref.clone(),
                    record_ref: record_ref.clone(),
                },
            )]
        }
        Action::AdoptBureauReport {
            report_symbol,
            recommendations,
            omnibus_language_ref,
        } => {
            require_text("report_symbol", report_symbol)?;
            let held = matches!(case.phase, Phase::PublicMeetingConcluded);
            if !held && !rules.report_without_public_meeting {
                return Err(Rejection::NotAllowedInState {
                    command: kind.as_str().into(),
                    state: case.phase.name().into(),
                    allowed_from: vec![MEETING_CONCLUDED.into()],
                });
            }
            vec![ev(
                vec![LegalCitation::bureau_report()],
                Body::BureauReportAdopted {
                    report_symbol: report_symbol.clone(),
                    adopted_on: on,
                    recommendations: recommendations.clone(),
                    omnibus_language_ref: omnibus_language_ref.clone(),
                    public_meeting_held: held,
                },
            )]
        }
        Action::PlaceOnAssemblyAgenda {
            session_no,
            session_opening,
            agenda_item,
        } => {
            require_text("agenda_item", agenda_item)?;
            let gap_check = case.public_meeting_held_on.map(|held| GapCheck {
                public_meeting_date: held,
                months: rules.agenda_gap_months,
                earliest_allowed: add_months(held, rules.agenda_gap_months),
            });
            if let Some(g) = &gap_check
                && *session_opening < g.earliest_allowed
            {
                return Err(Rejection::AgendaTooLate {
                    session_opening: *session_opening,
                    earliest_allowed: g.earliest_allowed,
                    public_meeting_on: g.public_meeting_date,
                    gap_months: g.months,
                });
            }
            vec![ev(
                vec![rome("art. 112(2)(f)"), LegalCitation::procedures()],
                Body::MatterPlacedOnAssemblyAgenda {
                    session_no: *session_no,
                    session_opening: *session_opening,
                    agenda_item: agenda_item.clone(),
                    gap_check,
                },
            )]
        }
        Action::RecordPlenaryDiscussion {
            session_no,
            speakers,
            record_ref,
        } => {
            require_text("record_ref", record_ref)?;
            if let Phase::OnAssemblyAgenda {
                session_no: agenda, ..
            } = &case.phase
                && agenda != session_no
            {
                return Err(Rejection::InvalidField {
                    field: "session_no".into(),
                    expected: format!("{agenda}, the session whose agenda carries the matter"),
                });
            }
            vec![ev(
                vec![rome("art. 112(2)(f)")],
                Body::PlenaryDiscussionHeld {
                    session_no: *session_no,
                    date: on,
                    speakers: speakers.clone(),
                    record_ref: record_ref.clone(),
                },
            )]
        }
        Action::RecordAssemblyResolution {
            resolution_symbol,
            paragraphs,
            adoption,
        } => {
            require_text("resolution_symbol", resolution_symbol)?;
            vec![ev(
                vec![rome("art. 112(2)(f)")],
                Body::AssemblyResolutionAdopted {
                    resolution_symbol: resolution_symbol.clone(),
                    paragraphs: paragraphs.clone(),
                    adoption: *adoption,
                },
            )]
        }
        Action::RecordCooperationRestored {
            basis,
            court_notice_ref,
        } => {
            require_text("basis", basis)?;
            vec![ev(
                vec![rome("art. 86")],
                Body::CooperationRestored {
                    basis: basis.clone(),
                    court_notice_ref: court_notice_ref.clone(),
                    date: on,
                },
            )]
        }
        Action::RecordFindingAppealed { appeal_symbol } => {
            require_text("appeal_symbol", appeal_symbol)?;
            vec![ev(
                vec![rome("art. 82")],
                Body::FindingAppealed {
                    appeal_symbol: appeal_symbol.clone(),
                    filed_on: on,
                },
            )]
        }
        Action::RecordAppealJudgment {
            appeal_symbol,
            outcome,
        } => {
            require_text("appeal_symbol", appeal_symbol)?;
            let body = match outcome {
                AppealOutcome::FindingConfirmed => {
                    let extended = match &case.phase {
                        Phase::Suspended { prior, since } => match prior.as_ref() {
                            Phase::AwaitingViews { reply_deadline }
                                if rules.extend_reply_window_after_suspension =>
                            {
                                let days = (on - *since).num_days().max(0);
                                Some(add_days(
                                    *reply_deadline,
                                    u32::try_from(days).unwrap_or(u32::MAX),
                                ))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    Body::FindingConfirmedOnAppeal {
                        appeal_symbol: appeal_symbol.clone(),
                        judgment_date: on,
                        reply_deadline_extended_to: extended,
                    }
                }
                AppealOutcome::ReferralReversed => Body::ReferralReversedOnAppeal {
                    appeal_symbol: appeal_symbol.clone(),
                    judgment_date: on,
                },
            };
            vec![ev(vec![rome("art. 83")], body)]
        }
        Action::RecordMatterMoot {
            basis,
            court_notice_ref,
        } => vec![ev(
            procedures(),
            Body::MatterBecameMoot {
                basis: *basis,
                court_notice_ref: court_notice_ref.clone(),
                date: on,
            },
        )],
        Action::ConcludeConsideration => vec![ev(
            procedures(),
            Body::ConsiderationConcluded { concluded_on: on },
        )],
        Action::RecordRecurrence {
            new_case_id,
            decision_symbol,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            if *new_case_id == case.id {
                return Err(Rejection::InvalidField {
                    field: "new_case_id".into(),
                    expected: "the id of the new case, not this one".into(),
                });
            }
            vec![ev(
                vec![rome("art. 87(7)")],
                Body::RecurrenceReferred {
                    new_case_id: *new_case_id,
                    decision_symbol: decision_symbol.clone(),
                },
            )]
        }
        Action::ReferToSecurityCouncil { requested_measures } => {
            require_measures(requested_measures)?;
            vec![ev(
                vec![rome("art. 112(2)(g)")],
                Body::ReferredToSecurityCouncilByAssembly {
                    requested_measures: requested_measures.clone(),
                    referred_on: on,
                },
            )]
        }
        Action::SendUngaRequest {
            request_ref,
            requested_measures,
        } => {
            require_text("request_ref", request_ref)?;
            require_measures(requested_measures)?;
            vec![ev(
                vec![rome("art. 112(2)(g)")],
                Body::UngaRequestSent {
                    request_ref: request_ref.clone(),
                    requested_measures: requested_measures.clone(),
                    sent_on: on,
                },
            )]
        }
        Action::AmendRules { rules: new_rules } => {
            let mut new_rules = new_rules.clone();
            new_rules.version = rules.version + 1;
            new_rules.validate()?;
            vec![ev(
                procedures(),
                Body::RulesAmended {
                    previous_version: rules.version,
                    rules: new_rules,
                },
            )]
        }
        Action::Consultation(a) => {
            let outcome = case.consultations.decide(a, on, rules)?;
            vec![ev(consultation::citations(), consultation_body(outcome))]
        }
    };
    Ok(events)
}

fn require_measures(measures: &[String]) -> Result<(), Rejection> {
    if measures.iter().any(|m| !m.trim().is_empty()) {
        Ok(())
    } else {
        Err(Rejection::InvalidField {
            field: "requested_measures".into(),
            expected: "at least one measure (e.g. targeted sanctions)".into(),
        })
    }
}

pub(crate) fn require_channels(channels: &[String]) -> Result<(), Rejection> {
    if channels.iter().any(|c| !c.trim().is_empty()) {
        Ok(())
    } else {
        Err(Rejection::InvalidField {
            field: "channels".into(),
            expected: "at least one channel (e.g. ICC website, social media)".into(),
        })
    }
}

fn consultation_body(o: Outcome) -> Body {
    match o {
        Outcome::Requested(r) => Body::ConsultationRequested(r),
        Outcome::Held(h) => Body::ConsultationHeld(h),
        Outcome::Answered(a) => Body::ConsultationAnswered(a),
        Outcome::Joined(j) => Body::AssemblyRepresentativeJoinedConsultation(j),
    }
}

/// Applies an event. Total: an event that does not fit the state changes nothing it cannot.
pub fn evolve(state: State, event: &FormalEvent) -> State {
    let mut case = match (state, &event.body) {
        (
            State::NotOpened,
            Body::NonCooperationFindingReferred {
                case_id,
                reference,
                facts,
                referral,
                rules,
                linked_preventive_case,
                previous_case,
                carried_consultations,
            },
        ) => {
            return State::Open(Box::new(FormalCase {
                id: *case_id,
                reference: reference.clone(),
                facts: facts.clone(),
                referral: referral.clone(),
                rules: rules.clone(),
                phase: Phase::Referred,
                linked_preventive_case: *linked_preventive_case,
                previous_case: *previous_case,
                recurrences: Vec::new(),
                letter: None,
                circulated_on: None,
                views: Vec::new(),
                public_meeting_held_on: None,
                report_symbol: None,
                unsc_referrals: Vec::new(),
                unga_requests: Vec::new(),
                bureau_action_overdue: false,
                consultations: carried_consultations.clone(),
                last_occurred_at: event.meta.occurred_at,
            }));
        }
        (State::NotOpened, _) => return State::NotOpened,
        (State::Open(c), _) => c,
    };
    case.last_occurred_at = event.meta.occurred_at;
    match &event.body {
        Body::NonCooperationFindingReferred { .. } => {}
        Body::EmergencyBureauMeetingConvened { .. } => {
            case.phase = Phase::UnderUrgentBureauConsideration;
        }
        Body::BureauSeized { .. } => case.phase = Phase::UnderBureauConsideration,
        Body::OpenLetterSent {
            letter_ref,
            sent_on,
            reply_deadline,
            ..
        } => {
            case.letter = Some(LetterOnFile {
                letter_ref: letter_ref.clone(),
                sent_on: *sent_on,
                reply_deadline: *reply_deadline,
            });
            case.phase = Phase::AwaitingViews {
                reply_deadline: *reply_deadline,
            };
        }
        Body::OpenLetterCopiedToStatesParties { circulated_on, .. } => {
            case.circulated_on = Some(*circulated_on);
        }
        Body::OpenLetterPublished { .. } => {}
        Body::ViewsReceived {
            received_on,
            document_ref,
            ..
        } => {
            case.views.push(ViewsOnRecord {
                received_on: *received_on,
                document_ref: document_ref.clone(),
                late: false,
            });
            case.phase = Phase::ViewsOnFile;
        }
        Body::LateViewsReceived {
            received_on,
            document_ref,
            ..
        } => case.views.push(ViewsOnRecord {
            received_on: *received_on,
            document_ref: document_ref.clone(),
            late: true,
        }),
        Body::ResponseDeadlineElapsed { .. } => case.phase = Phase::NoResponse,
        Body::BureauActionOverdue { .. } => case.bureau_action_overdue = true,
        Body::PublicMeetingScheduled { date, .. } => {
            case.phase = Phase::AwaitingPublicMeeting {
                scheduled_for: *date,
            };
        }
        Body::PublicMeetingHeld { held_on, .. } => {
            case.public_meeting_held_on = Some(*held_on);
            case.phase = Phase::PublicMeetingConcluded;
        }
        Body::BureauReportAdopted { report_symbol, .. } => {
            case.report_symbol = Some(report_symbol.clone());
            case.phase = Phase::ReportedToAssembly;
        }
        Body::MatterPlacedOnAssemblyAgenda {
            session_no,
            session_opening,
            ..
        } => {
            case.phase = Phase::OnAssemblyAgenda {
                session_no: *session_no,
                session_opening: *session_opening,
            };
        }
        Body::PlenaryDiscussionHeld { .. } => case.phase = Phase::ConsideredByAssembly,
        Body::AssemblyResolutionAdopted { .. } => case.phase = Phase::FollowUp,
        Body::CooperationRestored { .. } => case.phase = Phase::ClosedCooperationRestored,
        Body::FindingAppealed { filed_on, .. } => {
            let prior = std::mem::replace(&mut case.phase, Phase::Referred);
            case.phase = Phase::Suspended {
                prior: Box::new(prior),
                since: *filed_on,
            };
        }
        Body::FindingConfirmedOnAppeal {
            reply_deadline_extended_to,
            ..
        } => {
            let phase = std::mem::replace(&mut case.phase, Phase::Referred);
            case.phase = match phase {
                Phase::Suspended { prior, .. } => match (*prior, reply_deadline_extended_to) {
                    (Phase::AwaitingViews { .. }, Some(extended)) => {
                        if let Some(l) = case.letter.as_mut() {
                            l.reply_deadline = *extended;
                        }
                        Phase::AwaitingViews {
                            reply_deadline: *extended,
                        }
                    }
                    (prior, _) => prior,
                },
                other => other,
            };
        }
        Body::ReferralReversedOnAppeal { .. } => case.phase = Phase::ClosedReferralWithdrawn,
        Body::MatterBecameMoot { .. } => case.phase = Phase::ClosedMoot,
        Body::ConsiderationConcluded { .. } => case.phase = Phase::ClosedConcluded,
        Body::RecurrenceReferred { new_case_id, .. } => case.recurrences.push(*new_case_id),
        Body::ReferredToSecurityCouncilByAssembly { referred_on, .. } => {
            case.unsc_referrals.push(*referred_on);
        }
        Body::UngaRequestSent { sent_on, .. } => case.unga_requests.push(*sent_on),
        Body::RulesAmended { rules, .. } => case.rules = rules.clone(),
        Body::ConsultationRequested(r) => case.consultations.evolve(&Outcome::Requested(r.clone())),
        Body::ConsultationHeld(h) => case.consultations.evolve(&Outcome::Held(h.clone())),
        Body::ConsultationAnswered(a) => {
            case.consultations.evolve(&Outcome::Answered(a.clone()));
        }
        Body::AssemblyRepresentativeJoinedConsultation(j) => {
            case.consultations.evolve(&Outcome::Joined(j.clone()));
        }
    }
    State::Open(case)
}

/// The A1 event that opens a formal case from a preventive case's escalation (B16): the new
/// case takes the preventive case's facts, rules and art. 97 consultations, and links back to
/// it.
pub fn opening_from_escalation(
    act: &ActMeta,
    ctx: &Context,
    formal_case_id: CaseId,
    reference: &str,
    referral: &Referral,
    origin: &super::preventive::PreventiveCase,
) -> FormalEvent {
    Event {
        meta: EventMeta::new(act, ctx, referral.citations(), origin.rules.version),
        body: Body::NonCooperationFindingReferred {
            case_id: formal_case_id,
            reference: reference.to_owned(),
            facts: origin.facts.clone(),
            referral: referral.clone(),
            rules: origin.rules.clone(),
            linked_preventive_case: Some(origin.id),
            previous_case: None,
            // The art. 97 record follows the case (issue 13 item 9).
            carried_consultations: origin.consultations.clone(),
        },
    }
}
