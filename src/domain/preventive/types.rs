//! The data of a case: the referral and its parts, the phases (states) and their names, the case and its deadlines.

#[allow(unused_imports)]
use super::*;

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
    pub const CLOSED_MOOT: &str = "ClosedMoot";
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
    CLOSED_MOOT,
];

pub(crate) const OPEN: &[&str] = &[
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
    CLOSED_MOOT,
];
pub(crate) const ACTING: &[&str] = &[ACTIVE, ONGOING];

/// A recipient of the E7 standing channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChannelRecipient {
    /// The role.
    pub role: crate::domain::Role,
    /// For focal points: the region they cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<crate::domain::Region>,
}

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
    /// Closed: the matter became moot (warrant withdrawn, person surrendered elsewhere or
    /// deceased, the Court's case ended, or no proceedings followed the incident) (terminal).
    ClosedMoot(MootBasis),
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
            Phase::ClosedMoot(_) => CLOSED_MOOT,
        }
    }

    /// `true` for terminal states.
    pub fn is_closed(&self) -> bool {
        CLOSED.contains(&self.name())
    }
}

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
    /// The State's withdrawal from the Statute (art. 127), if notified.
    #[serde(default)]
    pub withdrawal: Option<crate::domain::withdrawal::Withdrawal>,
    /// Legal time of the latest event.
    pub last_occurred_at: DateTime<Utc>,
    /// Legal date of the act that brought the case into its current phase (docs/procedures.md,
    /// "Legal time").
    #[serde(default)]
    pub phase_entered_on: NaiveDate,
    /// The Court's urgent decisions recorded (symbols), e.g. ICC-02/05-01/09-157.
    #[serde(default)]
    pub urgent_decisions: Vec<String>,
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
                time_zone: c.rules.seat_time_zone.clone(),
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
            | Phase::EscalatedToFormal { .. }
            | Phase::ClosedMoot(_) => Vec::new(),
        }
    }

    /// The next deadline that fires: none in Procedure B.
    pub fn next_deadline(&self) -> Option<Deadline> {
        self.deadlines().into_iter().find(|d| d.fires)
    }
}
