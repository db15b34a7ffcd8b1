//! Procedure B: preventive good offices of the ASP President, assisted by the regional focal
//! points, when a specific and serious incident of non-cooperation on an arrest and surrender
//! request (art. 89) is imminent or ongoing. domain.md §3.2.
//!
//! `Alerted → Assessed → {Dismissed | GoodOfficesActive} → {Averted | IncidentOngoing} →
//! {PersonSurrendered | IncidentOccurred} → AwaitingCourtDetermination → {ClosedNoReferral |
//! ReferralDeferred | EscalatedToFormal}`. The Court's referral is the only bridge to
//! Procedure A: B16 closes this case and opens a linked formal case in the same decision
//! (see [`super::case`]). Every transition is a row of [`TRANSITIONS`].

#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    ActMeta, CaseFacts, CaseId, Context, Deadline, DeadlineKind, Event, EventMeta, ProcedureRules,
    Rejection, RequestKind, StateStatus,
    consultation::{self, Consultations, Outcome},
    formal::{Referral, require_channels},
    legal::LegalCitation,
    permissions::{CommandKind, before_opening, on_open_case},
    require_text,
    table::{self, Transition, with_shared_rows},
    validate_facts,
};

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// The Registry.
    Registry,
    /// The Office of the Prosecutor (e.g. a notification of travel).
    Otp,
    /// A Chamber.
    Chamber,
    /// A State Party.
    StateParty,
    /// A focal point.
    FocalPoint,
    /// A non-governmental organisation.
    Ngo,
    /// The media.
    Media,
}

/// The alert that opens a preventive case (B1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Alert {
    /// Source.
    pub source_type: SourceType,
    /// Expected arrival of the person sought.
    pub expected_arrival: Option<NaiveDate>,
    /// Expected departure.
    pub expected_departure: Option<NaiveDate>,
    /// The occasion (summit, inauguration, ...).
    pub event_name: String,
    /// The source's confidence, in words ("confirmed by the host", "press report").
    pub confidence: String,
}

/// The President's assessment (B2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Assessment {
    /// The incident is specific.
    pub specific: bool,
    /// It is serious.
    pub serious: bool,
    /// It is imminent.
    pub imminent: bool,
    /// It is ongoing.
    pub ongoing: bool,
}

impl Assessment {
    /// The B4 guard: specific ∧ serious ∧ (imminent ∨ ongoing).
    pub fn qualifies(&self) -> bool {
        self.specific && self.serious && (self.imminent || self.ongoing)
    }
}

/// How the visit was averted (B8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AvertedBy {
    /// The visit was cancelled.
    VisitCancelled,
    /// The event was moved elsewhere.
    EventRelocated,
    /// The State declined to host (Malawi 2012).
    HostDeclined,
}

/// Level of a focal point's démarche.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DemarcheLevel {
    /// In the capital.
    Capital,
    /// In New York.
    NewYork,
    /// In The Hague.
    TheHague,
    /// At an embassy.
    Embassy,
}

/// The Court's determination without referral (B14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Determination {
    /// No finding (Nigeria, 5 Sep 2013).
    NoFinding,
    /// Non-compliance found, not referred (South Africa, 6 Jul 2017).
    FindingWithoutReferral,
}

/// State names, as in domain.md and the transition table.
pub mod names {
    #![allow(missing_docs)]
    pub const ALERTED: &str = "Alerted";
    pub const ASSESSED: &str = "Assessed";
    pub const DISMISSED: &str = "Dismissed";
    pub const ACTIVE: &str = "GoodOfficesActive";
    pub const ONGOING: &str = "IncidentOngoing";
    pub const AVERTED: &str = "Averted";
    pub const SURRENDERED: &str = "PersonSurrendered";
    pub const OCCURRED: &str = "IncidentOccurred";
    pub const AWAITING_COURT: &str = "AwaitingCourtDetermination";
    pub const CLOSED_NO_REFERRAL: &str = "ClosedNoReferral";
    pub const DEFERRED: &str = "ReferralDeferred";
    pub const ESCALATED: &str = "EscalatedToFormal";
}
use names::*;

/// Every state of Procedure B.
pub const STATES: &[&str] = &[
    ALERTED,
    ASSESSED,
    DISMISSED,
    ACTIVE,
    ONGOING,
    AVERTED,
    SURRENDERED,
    OCCURRED,
    AWAITING_COURT,
    CLOSED_NO_REFERRAL,
    DEFERRED,
    ESCALATED,
];

const OPEN: &[&str] = &[
    ALERTED,
    ASSESSED,
    ACTIVE,
    ONGOING,
    OCCURRED,
    AWAITING_COURT,
    DEFERRED,
];
/// The terminal states.
pub const CLOSED: &[&str] = &[
    DISMISSED,
    AVERTED,
    SURRENDERED,
    CLOSED_NO_REFERRAL,
    ESCALATED,
];
const ACTING: &[&str] = &[ACTIVE, ONGOING];

/// The phase of a preventive case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Information received.
    Alerted,
    /// Assessed by the President.
    Assessed(Assessment),
    /// Closed: not specific, serious, imminent or ongoing (terminal).
    Dismissed,
    /// Good offices under way.
    GoodOfficesActive,
    /// The person is on the territory.
    IncidentOngoing {
        /// Arrival.
        arrived_at: DateTime<Utc>,
    },
    /// Closed: the visit did not happen (terminal).
    Averted(AvertedBy),
    /// Closed: arrested and surrendered (terminal).
    PersonSurrendered,
    /// The person left without being arrested.
    IncidentOccurred {
        /// Departure.
        departed_at: DateTime<Utc>,
    },
    /// The Court's art. 87(7) proceedings are pending.
    AwaitingCourtDetermination {
        /// Court-set date for the State's views.
        views_due_on: Option<NaiveDate>,
    },
    /// Closed: no finding, or finding without referral (terminal).
    ClosedNoReferral(Determination),
    /// Finding made, referral decision deferred.
    ReferralDeferred,
    /// Closed: escalated to a formal case (terminal for B).
    EscalatedToFormal {
        /// The formal case.
        formal_case: CaseId,
    },
}

impl Phase {
    /// The state's name.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Alerted => ALERTED,
            Phase::Assessed(_) => ASSESSED,
            Phase::Dismissed => DISMISSED,
            Phase::GoodOfficesActive => ACTIVE,
            Phase::IncidentOngoing { .. } => ONGOING,
            Phase::Averted(_) => AVERTED,
            Phase::PersonSurrendered => SURRENDERED,
            Phase::IncidentOccurred { .. } => OCCURRED,
            Phase::AwaitingCourtDetermination { .. } => AWAITING_COURT,
            Phase::ClosedNoReferral(_) => CLOSED_NO_REFERRAL,
            Phase::ReferralDeferred => DEFERRED,
            Phase::EscalatedToFormal { .. } => ESCALATED,
        }
    }

    /// `true` for terminal states.
    pub fn is_closed(&self) -> bool {
        CLOSED.contains(&self.name())
    }
}

/// Every transition of Procedure B (domain.md §3.2 B1-B16, extensions E2/E3, art. 97 §3.4).
pub const TRANSITIONS: &[Transition] = with_shared_rows![
    OPEN;
    Transition {
        id: "B1",
        command: CommandKind::OpenPreventiveCase,
        from: &["(none)"],
        event: "ImminentNonCooperationAlerted",
        to: ALERTED,
        guard: "an arrest and surrender (art. 89) or provisional arrest (art. 92) request is outstanding (else NoOutstandingArrestRequest); host is a State Party or bound by a UNSC resolution (else HostNotBound)",
        legal: "Rome Statute art. 89; ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B2",
        command: CommandKind::AssessSituation,
        from: &[ALERTED, ASSESSED],
        event: "SituationAssessed",
        to: ASSESSED,
        guard: "records specific, serious, imminent, ongoing",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B3",
        command: CommandKind::DismissAlert,
        from: &[ASSESSED],
        event: "AlertDismissed",
        to: DISMISSED,
        guard: "not (specific and serious and (imminent or ongoing)) (else AssessmentQualifies)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B4",
        command: CommandKind::InitiateGoodOffices,
        from: &[ASSESSED],
        event: "GoodOfficesInitiated",
        to: ACTIVE,
        guard: "specific and serious and (imminent or ongoing) (else NotSpecificOrSerious)",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B5",
        command: CommandKind::SendLetterToHostState,
        from: ACTING,
        event: "LetterToHostStateSent",
        to: "(unchanged)",
        guard: "none",
        legal: "Rome Statute art. 86 and the request's articles (89 and 91, or 92); ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B6",
        command: CommandKind::MakeFocalPointDemarche,
        from: ACTING,
        event: "FocalPointDemarcheMade",
        to: "(unchanged)",
        guard: "focal point of the host's region, or the President for his or her own region (else FocalPointRegionMismatch)",
        legal: "ICC-ASP/10/Res.5 annex para. 16; ICC-ASP/13/Res.5 op. 14",
    },
    Transition {
        id: "B7",
        command: CommandKind::IssuePublicStatement,
        from: ACTING,
        event: "PublicStatementIssued",
        to: "(unchanged)",
        guard: "none",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B8",
        command: CommandKind::RecordVisitCancelled,
        from: &[ACTIVE],
        event: "VisitCancelled",
        to: AVERTED,
        guard: "cancelled, relocated or host declined",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B9",
        command: CommandKind::RecordPersonArrived,
        from: &[ACTIVE],
        event: "PersonArrived",
        to: ONGOING,
        guard: "none",
        legal: "Rome Statute art. 89",
    },
    Transition {
        id: "B10",
        command: CommandKind::RecordArrestAndSurrender,
        from: &[ONGOING],
        event: "PersonArrestedAndSurrendered",
        to: SURRENDERED,
        guard: "none",
        legal: "Rome Statute art. 89",
    },
    Transition {
        id: "B11",
        command: CommandKind::RecordDepartureWithoutArrest,
        from: &[ONGOING],
        event: "PersonDepartedWithoutArrest",
        to: OCCURRED,
        guard: "departure not before arrival",
        legal: "Rome Statute art. 89",
    },
    Transition {
        id: "B12",
        command: CommandKind::InformBureau,
        from: &[OCCURRED],
        event: "BureauInformed",
        to: "(unchanged)",
        guard: "none",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "B13",
        command: CommandKind::RecordCourtProceedingsOpened,
        from: &[OCCURRED],
        event: "CourtNonComplianceProceedingsOpened",
        to: AWAITING_COURT,
        guard: "none",
        legal: "Rome Statute art. 87(7)",
    },
    Transition {
        id: "B14",
        command: CommandKind::RecordCourtDetermination,
        from: &[AWAITING_COURT],
        event: "NoFindingMade / FindingMadeWithoutReferral",
        to: CLOSED_NO_REFERRAL,
        guard: "none",
        legal: "Rome Statute art. 87(7)",
    },
    Transition {
        id: "B15",
        command: CommandKind::RecordReferralDeferred,
        from: &[AWAITING_COURT],
        event: "ReferralDecisionDeferred",
        to: DEFERRED,
        guard: "none",
        legal: "Rome Statute art. 87(7)",
    },
    Transition {
        id: "B16",
        command: CommandKind::RecordCourtReferral,
        from: &[AWAITING_COURT, DEFERRED],
        event: "NonCooperationFindingReferred (+ A1 on the new formal case)",
        to: ESCALATED,
        guard: "targets include the ASP (else NotReferredToAssembly); not escalated before (else AlreadyEscalated); no case for the same decision (else DuplicateReferral)",
        legal: "Rome Statute art. 87(7) / 87(5)(b), art. 112(2)(f)",
    },
    Transition {
        id: "E2",
        command: CommandKind::PublishLetter,
        from: &[ALERTED, ASSESSED, ACTIVE, ONGOING],
        event: "VisitWarningPublished",
        to: "(unchanged)",
        guard: "extension E2 on",
        legal: "ICC-ASP/10/Res.5 annex",
    },
    Transition {
        id: "E3",
        command: CommandKind::ReferToSecurityCouncil,
        from: &[OCCURRED],
        event: "ReferredToSecurityCouncilByAssembly",
        to: "(unchanged)",
        guard: "extension E3 on; requested measures given",
        legal: "Rome Statute art. 112(2)(g)",
    },
];

/// A preventive case once opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreventiveCase {
    /// Its id.
    pub id: CaseId,
    /// Human reference, e.g. `GO-2013-0001`.
    pub reference: String,
    /// Facts captured on opening.
    pub facts: CaseFacts,
    /// The alert.
    pub alert: Alert,
    /// Rules in force.
    pub rules: ProcedureRules,
    /// Current phase.
    pub phase: Phase,
    /// Latest assessment.
    pub assessment: Option<Assessment>,
    /// Letters, démarches and statements made (count by kind, in order: refs).
    pub actions_taken: Vec<String>,
    /// When the Bureau was informed.
    pub bureau_informed_on: Option<NaiveDate>,
    /// Referrals of the Assembly to the UNSC (E3).
    pub unsc_referrals: Vec<NaiveDate>,
    /// Art. 97 consultations.
    pub consultations: Consultations,
    /// Legal time of the latest event.
    pub last_occurred_at: DateTime<Utc>,
}

/// The state of a preventive case stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum State {
    /// Nothing recorded yet.
    #[default]
    NotOpened,
    /// Opened by an alert.
    Open(Box<PreventiveCase>),
}

impl State {
    /// The state's name.
    pub fn name(&self) -> &'static str {
        match self {
            State::NotOpened => "NotOpened",
            State::Open(c) => c.phase.name(),
        }
    }

    /// The case, once opened.
    pub fn case(&self) -> Option<&PreventiveCase> {
        match self {
            State::NotOpened => None,
            State::Open(c) => Some(c),
        }
    }

    /// Deadlines derived from the state. None of them fires: they are dates to watch.
    pub fn deadlines(&self) -> Vec<Deadline> {
        let Some(c) = self.case() else {
            return Vec::new();
        };
        let watch = |kind, due: Option<NaiveDate>| {
            due.map(|due| Deadline {
                kind,
                due,
                fires: false,
            })
        };
        match &c.phase {
            Phase::Alerted | Phase::Assessed(_) | Phase::GoodOfficesActive => {
                watch(DeadlineKind::ExpectedArrival, c.alert.expected_arrival)
                    .into_iter()
                    .collect()
            }
            Phase::IncidentOngoing { .. } => {
                watch(DeadlineKind::ExpectedDeparture, c.alert.expected_departure)
                    .into_iter()
                    .collect()
            }
            Phase::AwaitingCourtDetermination { views_due_on } => {
                watch(DeadlineKind::CourtViewsDue, *views_due_on)
                    .into_iter()
                    .collect()
            }
            Phase::Dismissed
            | Phase::Averted(_)
            | Phase::PersonSurrendered
            | Phase::IncidentOccurred { .. }
            | Phase::ClosedNoReferral(_)
            | Phase::ReferralDeferred
            | Phase::EscalatedToFormal { .. } => Vec::new(),
        }
    }

    /// The next deadline that fires: none in Procedure B.
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

/// What a preventive-case command asks for.
#[allow(clippy::large_enum_variant)] // short-lived values, as in `formal::Action`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// B1.
    Open {
        /// The new case's id (generated by the engine).
        case_id: CaseId,
        /// Its human reference.
        reference: String,
        /// Facts.
        facts: CaseFacts,
        /// The alert.
        alert: Alert,
        /// Rules to pin.
        rules: ProcedureRules,
    },
    /// B2.
    AssessSituation {
        /// The assessment.
        assessment: Assessment,
        /// Focal points consulted (State codes).
        consulted_focal_points: Vec<String>,
    },
    /// B3.
    DismissAlert {
        /// Why.
        reason: String,
    },
    /// B4.
    InitiateGoodOffices,
    /// B5.
    SendLetterToHostState {
        /// Reference (e.g. PR933).
        reference: String,
        /// Addressee (e.g. the Foreign Minister).
        addressee: String,
        /// Text reference.
        text_ref: Option<String>,
    },
    /// B6.
    MakeFocalPointDemarche {
        /// The focal point State.
        focal_point_state: String,
        /// Level.
        level: DemarcheLevel,
    },
    /// B7.
    IssuePublicStatement {
        /// Reference (e.g. PR1117).
        reference: String,
        /// Text reference.
        text_ref: Option<String>,
    },
    /// B8.
    RecordVisitCancelled {
        /// How.
        averted_by: AvertedBy,
    },
    /// B9.
    RecordPersonArrived {
        /// Where.
        location: String,
        /// Evidence.
        evidence_ref: Option<String>,
    },
    /// B10.
    RecordArrestAndSurrender {
        /// Court confirmation.
        court_confirmation_ref: Option<String>,
    },
    /// B11.
    RecordDepartureWithoutArrest {
        /// From where.
        location: String,
        /// Evidence.
        evidence_ref: Option<String>,
    },
    /// B12.
    InformBureau {
        /// Meeting or note.
        reference: String,
    },
    /// B13.
    RecordCourtProceedingsOpened {
        /// The Chamber's order.
        order_symbol: String,
        /// Court-set date for the State's views.
        views_due_on: Option<NaiveDate>,
    },
    /// B14.
    RecordCourtDetermination {
        /// Outcome.
        determination: Determination,
        /// The decision.
        decision_symbol: String,
    },
    /// B15.
    RecordReferralDeferred {
        /// The decision.
        decision_symbol: String,
        /// Why (e.g. pending domestic proceedings).
        reason: String,
    },
    /// B16.
    RecordCourtReferral {
        /// The referral.
        referral: Referral,
        /// The formal case to open (id generated by the engine).
        formal_case_id: CaseId,
        /// Its human reference.
        formal_reference: String,
        /// Looked up by the engine: a formal case already opened on the same decision.
        existing_case_for_decision: Option<CaseId>,
    },
    /// E2: a visit warning published.
    PublishLetter {
        /// Channels.
        channels: Vec<String>,
        /// Where.
        url: Option<String>,
    },
    /// E3.
    ReferToSecurityCouncil {
        /// Measures requested.
        requested_measures: Vec<String>,
    },
    /// Amend the pinned rules.
    AmendRules {
        /// New rules (version set to current + 1).
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
            Action::Open { .. } => K::OpenPreventiveCase,
            Action::AssessSituation { .. } => K::AssessSituation,
            Action::DismissAlert { .. } => K::DismissAlert,
            Action::InitiateGoodOffices => K::InitiateGoodOffices,
            Action::SendLetterToHostState { .. } => K::SendLetterToHostState,
            Action::MakeFocalPointDemarche { .. } => K::MakeFocalPointDemarche,
            Action::IssuePublicStatement { .. } => K::IssuePublicStatement,
            Action::RecordVisitCancelled { .. } => K::RecordVisitCancelled,
            Action::RecordPersonArrived { .. } => K::RecordPersonArrived,
            Action::RecordArrestAndSurrender { .. } => K::RecordArrestAndSurrender,
            Action::RecordDepartureWithoutArrest { .. } => K::RecordDepartureWithoutArrest,
            Action::InformBureau { .. } => K::InformBureau,
            Action::RecordCourtProceedingsOpened { .. } => K::RecordCourtProceedingsOpened,
            Action::RecordCourtDetermination { .. } => K::RecordCourtDetermination,
            Action::RecordReferralDeferred { .. } => K::RecordReferralDeferred,
            Action::RecordCourtReferral { .. } => K::RecordCourtReferral,
            Action::PublishLetter { .. } => K::PublishLetter,
            Action::ReferToSecurityCouncil { .. } => K::ReferToSecurityCouncil,
            Action::AmendRules { .. } => K::AmendRules,
            Action::Consultation(a) => a.kind(),
        }
    }
}

/// What happened in a preventive case. Variant names are the stored event names: never rename.
#[allow(clippy::large_enum_variant)] // see `Action`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// B1.
    ImminentNonCooperationAlerted {
        /// The case opened.
        case_id: CaseId,
        /// Its reference.
        reference: String,
        /// Facts.
        facts: CaseFacts,
        /// The alert.
        alert: Alert,
        /// Rules pinned.
        rules: ProcedureRules,
    },
    /// B2.
    SituationAssessed {
        /// The assessment.
        assessment: Assessment,
        /// Focal points consulted.
        consulted_focal_points: Vec<String>,
    },
    /// B3.
    AlertDismissed {
        /// Why.
        reason: String,
    },
    /// B4.
    GoodOfficesInitiated,
    /// B5.
    LetterToHostStateSent {
        /// Reference.
        reference: String,
        /// Addressee.
        addressee: String,
        /// Date.
        date: NaiveDate,
        /// Text.
        text_ref: Option<String>,
    },
    /// B6.
    FocalPointDemarcheMade {
        /// Focal point State.
        focal_point_state: String,
        /// Region acted for.
        region: super::Region,
        /// Level.
        level: DemarcheLevel,
        /// Date.
        date: NaiveDate,
    },
    /// B7.
    PublicStatementIssued {
        /// Reference.
        reference: String,
        /// Date.
        date: NaiveDate,
        /// Text.
        text_ref: Option<String>,
    },
    /// B8.
    VisitCancelled {
        /// How.
        averted_by: AvertedBy,
    },
    /// B9.
    PersonArrived {
        /// When.
        datetime: DateTime<Utc>,
        /// Where.
        location: String,
        /// Evidence.
        evidence_ref: Option<String>,
    },
    /// B10.
    PersonArrestedAndSurrendered {
        /// Court confirmation.
        court_confirmation_ref: Option<String>,
    },
    /// B11.
    PersonDepartedWithoutArrest {
        /// When.
        datetime: DateTime<Utc>,
        /// From where.
        location: String,
        /// Evidence.
        evidence_ref: Option<String>,
    },
    /// B12.
    BureauInformed {
        /// Meeting or note.
        reference: String,
        /// Date.
        date: NaiveDate,
    },
    /// B13.
    CourtNonComplianceProceedingsOpened {
        /// Order.
        order_symbol: String,
        /// Views due.
        views_due_on: Option<NaiveDate>,
    },
    /// B14 (no finding).
    NoFindingMade {
        /// Decision.
        decision_symbol: String,
        /// Date.
        decision_date: NaiveDate,
    },
    /// B14 (finding without referral).
    FindingMadeWithoutReferral {
        /// Decision.
        decision_symbol: String,
        /// Date.
        decision_date: NaiveDate,
    },
    /// B15.
    ReferralDecisionDeferred {
        /// Decision.
        decision_symbol: String,
        /// Why.
        reason: String,
    },
    /// B16: the referral; this case is closed as escalated, `formal_case` is opened with it.
    NonCooperationFindingReferred {
        /// The referral.
        referral: Referral,
        /// The formal case opened.
        formal_case: CaseId,
        /// Its reference.
        formal_reference: String,
    },
    /// E2.
    VisitWarningPublished {
        /// When.
        published_on: NaiveDate,
        /// Channels.
        channels: Vec<String>,
        /// Where.
        url: Option<String>,
    },
    /// E3.
    ReferredToSecurityCouncilByAssembly {
        /// Measures requested.
        requested_measures: Vec<String>,
        /// When.
        referred_on: NaiveDate,
    },
    /// Rules amended.
    RulesAmended {
        /// Previous version.
        previous_version: u32,
        /// New rules.
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

/// A preventive-case event.
pub type PreventiveEvent = Event<Body>;

fn check_state(case: &PreventiveCase, kind: CommandKind) -> Result<(), Rejection> {
    let specific = match case.phase {
        Phase::EscalatedToFormal { formal_case } if kind == CommandKind::RecordCourtReferral => {
            Some(Rejection::AlreadyEscalated { formal_case })
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

/// Checks whether the principal could issue `kind` now (permission, state, extension flags).
pub fn precheck(state: &State, kind: CommandKind, ctx: &Context) -> Result<(), Rejection> {
    let open = CommandKind::OpenPreventiveCase;
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
    case.rules.require_extension_for(kind)
}

/// Decides a command against the current state.
///
/// # Errors
/// A named [`Rejection`].
pub fn decide(
    state: &State,
    cmd: &Command,
    ctx: &Context,
) -> Result<Vec<PreventiveEvent>, Rejection> {
    let kind = cmd.action.kind();
    precheck(state, kind, ctx)?;
    let act = &cmd.act;
    let on = act.occurred_at.date_naive();
    let case = match (state, &cmd.action) {
        (
            State::NotOpened,
            Action::Open {
                case_id,
                reference,
                facts,
                alert,
                rules,
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
            require_text("alert.event_name", &alert.event_name)?;
            rules.validate()?;
            let arrest = matches!(
                facts.request.kind,
                RequestKind::ArrestAndSurrender | RequestKind::ProvisionalArrest
            );
            if !arrest || !facts.request.outstanding {
                return Err(Rejection::NoOutstandingArrestRequest);
            }
            match facts.requested_state.status {
                StateStatus::StateParty | StateStatus::BoundByUnscResolution => {}
                status @ (StateStatus::NonStatePartyAdHoc | StateStatus::NotBound) => {
                    return Err(Rejection::HostNotBound { status });
                }
            }
            if let (Some(a), Some(d)) = (alert.expected_arrival, alert.expected_departure)
                && d < a
            {
                return Err(Rejection::InvalidField {
                    field: "alert.expected_departure".into(),
                    expected: format!("a date on or after expected_arrival {a}"),
                });
            }
            let meta = EventMeta::new(
                act,
                ctx,
                vec![LegalCitation::rome("art. 89"), LegalCitation::procedures()],
                rules.version,
            );
            return Ok(vec![Event {
                meta,
                body: Body::ImminentNonCooperationAlerted {
                    case_id: *case_id,
                    reference: reference.clone(),
                    facts: facts.clone(),
                    alert: alert.clone(),
                    rules: rules.clone(),
                },
            }]);
        }
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
    let body = match &cmd.action {
        Action::Open { .. } => return Err(Rejection::CaseAlreadyOpened),
        Action::AssessSituation {
            assessment,
            consulted_focal_points,
        } => Body::SituationAssessed {
            assessment: *assessment,
            consulted_focal_points: consulted_focal_points.clone(),
        },
        Action::DismissAlert { reason } => {
            require_text("reason", reason)?;
            if case.assessment.is_some_and(|a| a.qualifies()) {
                return Err(Rejection::AssessmentQualifies);
            }
            Body::AlertDismissed {
                reason: reason.clone(),
            }
        }
        Action::InitiateGoodOffices => match case.assessment {
            Some(a) if a.qualifies() => Body::GoodOfficesInitiated,
            a => {
                let a = a.unwrap_or(Assessment {
                    specific: false,
                    serious: false,
                    imminent: false,
                    ongoing: false,
                });
                return Err(Rejection::NotSpecificOrSerious {
                    specific: a.specific,
                    serious: a.serious,
                    imminent: a.imminent,
                    ongoing: a.ongoing,
                });
            }
        },
        Action::SendLetterToHostState {
            reference,
            addressee,
            text_ref,
        } => {
            require_text("reference", reference)?;
            require_text("addressee", addressee)?;
            // The obligations of the request concerned (art. 89 and 91, or art. 92).
            let mut cited = case.facts.obligation_citations();
            cited.push(LegalCitation::procedures());
            return Ok(vec![ev(
                cited,
                Body::LetterToHostStateSent {
                    reference: reference.clone(),
                    addressee: addressee.clone(),
                    date: on,
                    text_ref: text_ref.clone(),
                },
            )]);
        }
        Action::MakeFocalPointDemarche {
            focal_point_state,
            level,
        } => {
            require_text("focal_point_state", focal_point_state)?;
            return Ok(vec![ev(
                vec![
                    LegalCitation::focal_points(),
                    LegalCitation::president_ex_officio(),
                ],
                Body::FocalPointDemarcheMade {
                    focal_point_state: focal_point_state.clone(),
                    region: case.facts.requested_state.region,
                    level: *level,
                    date: on,
                },
            )]);
        }
        Action::IssuePublicStatement {
            reference,
            text_ref,
        } => {
            require_text("reference", reference)?;
            Body::PublicStatementIssued {
                reference: reference.clone(),
                date: on,
                text_ref: text_ref.clone(),
            }
        }
        Action::RecordVisitCancelled { averted_by } => Body::VisitCancelled {
            averted_by: *averted_by,
        },
        Action::RecordPersonArrived {
            location,
            evidence_ref,
        } => {
            require_text("location", location)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::PersonArrived {
                    datetime: act.occurred_at,
                    location: location.clone(),
                    evidence_ref: evidence_ref.clone(),
                },
            )]);
        }
        Action::RecordArrestAndSurrender {
            court_confirmation_ref,
        } => {
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::PersonArrestedAndSurrendered {
                    court_confirmation_ref: court_confirmation_ref.clone(),
                },
            )]);
        }
        Action::RecordDepartureWithoutArrest {
            location,
            evidence_ref,
        } => {
            require_text("location", location)?;
            if let Phase::IncidentOngoing { arrived_at } = case.phase
                && act.occurred_at < arrived_at
            {
                return Err(Rejection::InvalidField {
                    field: "occurred_at".into(),
                    expected: format!("the departure time, not before the arrival at {arrived_at}"),
                });
            }
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::PersonDepartedWithoutArrest {
                    datetime: act.occurred_at,
                    location: location.clone(),
                    evidence_ref: evidence_ref.clone(),
                },
            )]);
        }
        Action::InformBureau { reference } => {
            require_text("reference", reference)?;
            Body::BureauInformed {
                reference: reference.clone(),
                date: on,
            }
        }
        Action::RecordCourtProceedingsOpened {
            order_symbol,
            views_due_on,
        } => {
            require_text("order_symbol", order_symbol)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 87(7)")],
                Body::CourtNonComplianceProceedingsOpened {
                    order_symbol: order_symbol.clone(),
                    views_due_on: *views_due_on,
                },
            )]);
        }
        Action::RecordCourtDetermination {
            determination,
            decision_symbol,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            let body = match determination {
                Determination::NoFinding => Body::NoFindingMade {
                    decision_symbol: decision_symbol.clone(),
                    decision_date: on,
                },
                Determination::FindingWithoutReferral => Body::FindingMadeWithoutReferral {
                    decision_symbol: decision_symbol.clone(),
                    decision_date: on,
                },
            };
            return Ok(vec![ev(vec![LegalCitation::rome("art. 87(7)")], body)]);
        }
        Action::RecordReferralDeferred {
            decision_symbol,
            reason,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            require_text("reason", reason)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 87(7)")],
                Body::ReferralDecisionDeferred {
                    decision_symbol: decision_symbol.clone(),
                    reason: reason.clone(),
                },
            )]);
        }
        Action::RecordCourtReferral {
            referral,
            formal_case_id,
            formal_reference,
            existing_case_for_decision,
        } => {
            referral.validate(case.facts.requested_state.status)?;
            require_text("formal_reference", formal_reference)?;
            if *formal_case_id == case.id {
                return Err(Rejection::InvalidField {
                    field: "formal_case_id".into(),
                    expected: "a new id for the formal case, not this case's id".into(),
                });
            }
            if let Some(existing) = existing_case_for_decision {
                return Err(Rejection::DuplicateReferral {
                    existing_case: *existing,
                    decision_symbol: referral.decision_symbol.clone(),
                    state: case.facts.requested_state.iso_code.clone(),
                });
            }
            return Ok(vec![ev(
                referral.citations(),
                Body::NonCooperationFindingReferred {
                    referral: referral.clone(),
                    formal_case: *formal_case_id,
                    formal_reference: formal_reference.clone(),
                },
            )]);
        }
        Action::PublishLetter { channels, url } => {
            require_channels(channels)?;
            Body::VisitWarningPublished {
                published_on: on,
                channels: channels.clone(),
                url: url.clone(),
            }
        }
        Action::ReferToSecurityCouncil { requested_measures } => {
            if requested_measures.iter().all(|m| m.trim().is_empty()) {
                return Err(Rejection::InvalidField {
                    field: "requested_measures".into(),
                    expected: "at least one measure (e.g. targeted sanctions)".into(),
                });
            }
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 112(2)(g)")],
                Body::ReferredToSecurityCouncilByAssembly {
                    requested_measures: requested_measures.clone(),
                    referred_on: on,
                },
            )]);
        }
        Action::AmendRules { rules: new_rules } => {
            let mut new_rules = new_rules.clone();
            new_rules.version = rules.version + 1;
            new_rules.validate()?;
            Body::RulesAmended {
                previous_version: rules.version,
                rules: new_rules,
            }
        }
        Action::Consultation(a) => {
            let body = match case.consultations.decide(a, on, rules)? {
                Outcome::Requested(r) => Body::ConsultationRequested(r),
                Outcome::Held(h) => Body::ConsultationHeld(h),
                Outcome::Answered(a) => Body::ConsultationAnswered(a),
                Outcome::Joined(j) => Body::AssemblyRepresentativeJoinedConsultation(j),
            };
            return Ok(vec![ev(consultation::citations(), body)]);
        }
    };
    Ok(vec![ev(procedures(), body)])
}

/// Applies an event. Total.
pub fn evolve(state: State, event: &PreventiveEvent) -> State {
    let mut case = match (state, &event.body) {
        (
            State::NotOpened,
            Body::ImminentNonCooperationAlerted {
                case_id,
                reference,
                facts,
                alert,
                rules,
            },
        ) => {
            return State::Open(Box::new(PreventiveCase {
                id: *case_id,
                reference: reference.clone(),
                facts: facts.clone(),
                alert: alert.clone(),
                rules: rules.clone(),
                phase: Phase::Alerted,
                assessment: None,
                actions_taken: Vec::new(),
                bureau_informed_on: None,
                unsc_referrals: Vec::new(),
                consultations: Consultations::default(),
                last_occurred_at: event.meta.occurred_at,
            }));
        }
        (State::NotOpened, _) => return State::NotOpened,
        (State::Open(c), _) => c,
    };
    case.last_occurred_at = event.meta.occurred_at;
    match &event.body {
        Body::ImminentNonCooperationAlerted { .. } => {}
        Body::SituationAssessed { assessment, .. } => {
            case.assessment = Some(*assessment);
            case.phase = Phase::Assessed(*assessment);
        }
        Body::AlertDismissed { .. } => case.phase = Phase::Dismissed,
        Body::GoodOfficesInitiated => case.phase = Phase::GoodOfficesActive,
        Body::LetterToHostStateSent { reference, .. } => {
            case.actions_taken.push(format!("letter {reference}"));
        }
        Body::FocalPointDemarcheMade {
            focal_point_state, ..
        } => case
            .actions_taken
            .push(format!("démarche by {focal_point_state}")),
        Body::PublicStatementIssued { reference, .. } => {
            case.actions_taken.push(format!("statement {reference}"));
        }
        Body::VisitCancelled { averted_by } => case.phase = Phase::Averted(*averted_by),
        Body::PersonArrived { datetime, .. } => {
            case.phase = Phase::IncidentOngoing {
                arrived_at: *datetime,
            };
        }
        Body::PersonArrestedAndSurrendered { .. } => case.phase = Phase::PersonSurrendered,
        Body::PersonDepartedWithoutArrest { datetime, .. } => {
            case.phase = Phase::IncidentOccurred {
                departed_at: *datetime,
            };
        }
        Body::BureauInformed { date, .. } => case.bureau_informed_on = Some(*date),
        Body::CourtNonComplianceProceedingsOpened { views_due_on, .. } => {
            case.phase = Phase::AwaitingCourtDetermination {
                views_due_on: *views_due_on,
            };
        }
        Body::NoFindingMade { .. } => {
            case.phase = Phase::ClosedNoReferral(Determination::NoFinding);
        }
        Body::FindingMadeWithoutReferral { .. } => {
            case.phase = Phase::ClosedNoReferral(Determination::FindingWithoutReferral);
        }
        Body::ReferralDecisionDeferred { .. } => case.phase = Phase::ReferralDeferred,
        Body::NonCooperationFindingReferred { formal_case, .. } => {
            case.phase = Phase::EscalatedToFormal {
                formal_case: *formal_case,
            };
        }
        Body::VisitWarningPublished { .. } => {}
        Body::ReferredToSecurityCouncilByAssembly { referred_on, .. } => {
            case.unsc_referrals.push(*referred_on);
        }
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
