//! The data of a case: the referral and its parts, the phases (states) and their names, the case and its deadlines.

#[allow(unused_imports)]
use super::*;

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

/// How the Court took back its referral outside an appeal (A21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CourtWithdrawal {
    /// The Chamber withdrew (reconsidered) its referral to the Assembly.
    ReferralWithdrawn,
    /// The Chamber revoked its finding of non-compliance.
    FindingRevoked,
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
    /// Preventive cases: the Court did not open non-compliance proceedings after the incident,
    /// and the matter was overtaken (not possible in a formal case, which rests on a finding).
    NoCourtProceedings,
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
pub(crate) const ACTIVE: &[&str] = &[
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
pub(crate) const OPEN: &[&str] = &[
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
pub(crate) const LETTER_SENT: &[&str] = &[
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
pub(crate) const RECURRENCE_FROM: &[&str] = &[
    FOLLOW_UP,
    CLOSED_RESTORED,
    CLOSED_WITHDRAWN,
    CLOSED_MOOT,
    CLOSED_CONCLUDED,
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
    /// The State's withdrawal from the Statute (art. 127), if notified.
    #[serde(default)]
    pub withdrawal: Option<crate::domain::withdrawal::Withdrawal>,
    /// Legal time of the latest event.
    pub last_occurred_at: DateTime<Utc>,
    /// Legal date of the act that brought the case into its current phase: the Assembly's next
    /// step may not be dated before it (docs/procedures.md, "Legal time").
    #[serde(default)]
    pub phase_entered_on: NaiveDate,
}

impl FormalCase {
    /// E4: the day by which the Bureau should take up the referral (transmission +
    /// `e4_bureau_action_days`, rolled forward as the rules say).
    pub fn bureau_action_due(&self) -> NaiveDate {
        crate::domain::calendar::period_end(
            self.referral.transmitted_on,
            self.rules.extensions.e4_bureau_action_days,
            &self.rules,
        )
    }
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
                    due: c.bureau_action_due(),
                    fires: true,
                    time_zone: c.rules.seat_time_zone.clone(),
                });
            }
            Phase::AwaitingViews { reply_deadline } => out.push(Deadline {
                kind: DeadlineKind::ReplyWindow,
                due: *reply_deadline,
                fires: true,
                time_zone: c.rules.seat_time_zone.clone(),
            }),
            Phase::AwaitingPublicMeeting { scheduled_for } => out.push(Deadline {
                kind: DeadlineKind::PublicMeeting,
                due: *scheduled_for,
                fires: false,
                time_zone: c.rules.seat_time_zone.clone(),
            }),
            Phase::OnAssemblyAgenda {
                session_opening, ..
            } => out.push(Deadline {
                kind: DeadlineKind::AssemblySession,
                due: *session_opening,
                fires: false,
                time_zone: c.rules.seat_time_zone.clone(),
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
