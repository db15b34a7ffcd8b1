//! The ASP non-cooperation procedures as pure deciders.
//!
//! # What it is
//! Each procedure is a state machine written as `decide(&State, &Command, &Context) ->
//! Result<Vec<Event>, Rejection>` and `evolve(State, &Event) -> State` (STYLE.md habit 3):
//! - [`formal`]: Procedure A, the formal response to a Court referral (domain.md §3.1, A1-A20);
//! - [`preventive`]: Procedure B, the President's good offices before an imminent incident
//!   (§3.2, B1-B16), which may escalate into A;
//! - [`consultation`]: the art. 97 consultation record (§3.4) carried by both, with E6;
//! - [`withdrawal`]: a State Party's withdrawal (art. 127) recorded on a case of either;
//! - [`roster`]: the focal-point roster of a Bureau term (§3.3);
//! - [`interpretative`]: interpretative resolutions, the thematic procedure of extension E5;
//! - [`rules`]: the versioned [`rules::ProcedureRules`] pinned into each case ([R]/[A] items);
//! - [`permissions`]: who may issue which command (deny by default, region-limited focal points);
//! - [`legal`]: legal citations and document references carried by events;
//! - [`codec`]: events to and from stored envelopes (type name, schema version, JSON bytes);
//! - [`schemas`]: the JSON Schema of every stored event type and schema version;
//! - [`case`]: one entry point over every procedure, for the engine.
//!
//! # What it is not
//! No I/O, no async, no clock, no randomness (a test greps this folder). Time arrives in the
//! [`Context`] (`now`) and in commands (`occurred_at`, the legal time); case ids and human
//! references arrive in commands; facts about other cases (an existing referral for the same
//! decision) arrive in commands, looked up by the engine.
#![deny(missing_docs)]

pub mod calendar;
pub mod case;
pub mod codec;
pub mod consultation;
pub mod formal;
pub mod interpretative;
pub mod legal;
pub mod permissions;
pub mod preventive;
pub mod roster;
pub mod rules;
pub mod schemas;

mod rejection;
pub mod table;
pub mod withdrawal;

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use legal::{DocumentRef, LegalCitation};
pub use rejection::Rejection;
pub use rules::ProcedureRules;

/// A case's id: a UUID (v7, time-ordered), generated outside the domain.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct CaseId(pub Uuid);

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The kinds of case aspflow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// Procedure A: formal response to a Court referral.
    Formal,
    /// Procedure B: preventive good offices.
    Preventive,
    /// Extension E5: an interpretative resolution.
    Interpretative,
    /// The focal-point roster of a Bureau term.
    Roster,
}

impl ProcedureKind {
    /// Prefix of the human reference, e.g. `NC` in `NC-2016-0003`.
    pub fn reference_prefix(self) -> &'static str {
        match self {
            ProcedureKind::Formal => "NC",
            ProcedureKind::Preventive => "GO",
            ProcedureKind::Interpretative => "IR",
            ProcedureKind::Roster => "FP",
        }
    }
}

/// The five UN regional groups used for equitable geographical representation.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// African States.
    African,
    /// Asia-Pacific States.
    AsiaPacific,
    /// Eastern European States.
    EasternEuropean,
    /// Latin American and Caribbean States (GRULAC).
    LatinAmericanCaribbean,
    /// Western European and Other States (WEOG).
    WesternEuropeanOther,
}

impl Region {
    /// All regions, in a fixed order.
    pub const ALL: [Region; 5] = [
        Region::African,
        Region::AsiaPacific,
        Region::EasternEuropean,
        Region::LatinAmericanCaribbean,
        Region::WesternEuropeanOther,
    ];

    /// The stable name used in storage, tokens and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::African => "african",
            Region::AsiaPacific => "asia_pacific",
            Region::EasternEuropean => "eastern_european",
            Region::LatinAmericanCaribbean => "latin_american_caribbean",
            Region::WesternEuropeanOther => "western_european_other",
        }
    }

    /// The group's name as the ASP writes it (domain.md §2).
    pub fn label(self) -> &'static str {
        match self {
            Region::African => "African States",
            Region::AsiaPacific => "Asia-Pacific States",
            Region::EasternEuropean => "Eastern European States",
            Region::LatinAmericanCaribbean => "Latin American and Caribbean States (GRULAC)",
            Region::WesternEuropeanOther => "Western European and Other States (WEOG)",
        }
    }
}

/// The roles a principal may act in. Deny by default: see [`permissions`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Records acts of the Court (Chambers, Presidency, Registry, Prosecutor) in the system.
    CourtLiaison,
    /// The President of the Assembly (ex officio focal point for his or her region).
    President,
    /// The Bureau of the Assembly.
    Bureau,
    /// A non-cooperation focal point, acting for one region.
    FocalPoint,
    /// The ASP Secretariat: registers correspondence, publications and the Assembly's acts.
    Secretariat,
    /// Reads everything, changes nothing.
    Auditor,
    /// Reads public information, changes nothing.
    Observer,
    /// The engine itself (deadline firing).
    System,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 8] = [
        Role::CourtLiaison,
        Role::President,
        Role::Bureau,
        Role::FocalPoint,
        Role::Secretariat,
        Role::Auditor,
        Role::Observer,
        Role::System,
    ];

    /// The roles people act in: every role but the engine's own `System`.
    pub const PEOPLE: [Role; 7] = [
        Role::CourtLiaison,
        Role::President,
        Role::Bureau,
        Role::FocalPoint,
        Role::Secretariat,
        Role::Auditor,
        Role::Observer,
    ];

    /// The stable name used in storage, tokens and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CourtLiaison => "court_liaison",
            Role::President => "president",
            Role::Bureau => "bureau",
            Role::FocalPoint => "focal_point",
            Role::Secretariat => "secretariat",
            Role::Auditor => "auditor",
            Role::Observer => "observer",
            Role::System => "system",
        }
    }

    /// The role as an ASP official would name it (the stored name stays [`Role::as_str`]).
    pub fn label(self) -> &'static str {
        match self {
            Role::CourtLiaison => "the Court (Presidency, Chambers or Registry, as recorded)",
            Role::President => "the ASP President",
            Role::Bureau => "the Bureau",
            Role::FocalPoint => "a focal point on non-cooperation",
            Role::Secretariat => "the ASP Secretariat",
            Role::Auditor => "an auditor",
            Role::Observer => "an observer",
            Role::System => "the automatic deadline check",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who is acting: a subject (person or service), the role it acts in, and for a focal point
/// (or the President, ex officio) the region it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Principal {
    /// Stable identifier of the person or service (a token's `sub`).
    pub subject: String,
    /// The role this act is done in.
    pub role: Role,
    /// The region covered (focal points; the President's own region).
    pub region: Option<Region>,
}

impl Principal {
    /// A principal acting in `role` with no region.
    pub fn new(subject: impl Into<String>, role: Role) -> Self {
        Principal {
            subject: subject.into(),
            role,
            region: None,
        }
    }

    /// The engine acting on its own (deadline firing).
    pub fn system() -> Self {
        Principal::new("aspflow-scheduler", Role::System)
    }

    /// The same principal with a region.
    pub fn in_region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }
}

/// What every decision gets besides state and command: the processing time and the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// When the engine processes the command (not the legal time of the fact).
    pub now: DateTime<Utc>,
    /// Who issues the command.
    pub principal: Principal,
}

/// Whether an event may be shown to everyone or only to roles with a need to know.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Confidentiality {
    /// Public record.
    #[default]
    Public,
    /// Need to know only (e.g. OTP-State correspondence).
    Confidential,
}

/// Facts every command carries about the act it records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActMeta {
    /// The legal time of the act (when it happened in the world, not when it is recorded).
    pub occurred_at: DateTime<Utc>,
    /// Documents that record the act (symbols, dates, languages, optional content hashes).
    #[serde(default)]
    pub documents: Vec<DocumentRef>,
    /// Legal bases cited in addition to those the transition carries by itself.
    #[serde(default)]
    pub citations: Vec<LegalCitation>,
    /// Public or confidential.
    #[serde(default)]
    pub confidentiality: Confidentiality,
    /// A short free-text note for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where the act happened, as an IANA time zone ("America/New_York" for an act in New
    /// York); `None`: the seat the case's rules name. Its legal date is `occurred_at` read there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl ActMeta {
    /// An act at `occurred_at` with no documents, extra citations or note.
    pub fn at(occurred_at: DateTime<Utc>) -> Self {
        ActMeta {
            occurred_at,
            documents: Vec::new(),
            citations: Vec::new(),
            confidentiality: Confidentiality::Public,
            note: None,
            time_zone: None,
        }
    }

    /// The act's legal date: `occurred_at` in its own zone, else in the rules' seat zone.
    pub fn legal_date(&self, rules: &ProcedureRules) -> NaiveDate {
        calendar::local_date(
            self.occurred_at,
            self.time_zone.as_deref().unwrap_or(&rules.seat_time_zone),
        )
    }

    /// The same act with a document reference added.
    pub fn with_document(mut self, doc: DocumentRef) -> Self {
        self.documents.push(doc);
        self
    }
}

/// The common envelope facts of every event (domain.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventMeta {
    /// Legal time of the fact.
    #[serde(deserialize_with = "codec::utc_time")]
    pub occurred_at: DateTime<Utc>,
    /// Who recorded it (principal subject).
    pub actor: String,
    /// In which role.
    pub role: Role,
    /// Region of the actor, where relevant (focal points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// The legal basis of the act.
    pub legal_basis: Vec<LegalCitation>,
    /// Documents referenced.
    #[serde(default)]
    pub documents: Vec<DocumentRef>,
    /// Public or confidential.
    #[serde(default)]
    pub confidentiality: Confidentiality,
    /// Version of the case's rules in force when the event was decided.
    pub rules_version: u32,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where the act happened (IANA time zone), when the act named it (schema: meta v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl EventMeta {
    /// The event's legal date: its instant in its own zone, else in the rules' seat zone.
    pub fn legal_date(&self, rules: &ProcedureRules) -> NaiveDate {
        calendar::local_date(
            self.occurred_at,
            self.time_zone.as_deref().unwrap_or(&rules.seat_time_zone),
        )
    }
}

impl EventMeta {
    /// Builds the envelope facts from the act, the context and the transition's own citations.
    pub fn new(act: &ActMeta, ctx: &Context, base: Vec<LegalCitation>, rules_version: u32) -> Self {
        let mut legal_basis = base;
        for c in &act.citations {
            if !legal_basis.contains(c) {
                legal_basis.push(c.clone());
            }
        }
        EventMeta {
            occurred_at: act.occurred_at,
            actor: ctx.principal.subject.clone(),
            role: ctx.principal.role,
            region: ctx.principal.region,
            legal_basis,
            documents: act.documents.clone(),
            confidentiality: act.confidentiality,
            rules_version,
            note: act.note.clone(),
            time_zone: act.time_zone.clone(),
        }
    }
}

/// An event: envelope facts plus a procedure-specific body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event<B> {
    /// Facts every event carries.
    pub meta: EventMeta,
    /// What happened.
    pub body: B,
}

/// Status of the requested (host) State with respect to the Court.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateStatus {
    /// A State Party to the Rome Statute.
    StateParty,
    /// A non-State Party that accepted an ad hoc arrangement or agreement (art. 87(5)).
    NonStatePartyAdHoc,
    /// A non-State Party bound by a Security Council resolution.
    BoundByUnscResolution,
    /// A non-State Party under no obligation to cooperate.
    NotBound,
}

/// The requested (host) State.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestedState {
    /// ISO 3166-1 alpha-2 or alpha-3 code, upper case (e.g. `ZA`, `JOR`).
    pub iso_code: String,
    /// Name, e.g. "South Africa".
    pub name: String,
    /// Status towards the Court.
    pub status: StateStatus,
    /// Regional group (decides which focal point acts).
    pub region: Region,
}

/// The person the Court seeks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PersonSought {
    /// Name as in the warrant.
    pub name: String,
    /// Court case number, e.g. `ICC-02/05-01/09`.
    pub case_number: String,
    /// Dates of the warrants of arrest.
    #[serde(default)]
    pub warrant_dates: Vec<NaiveDate>,
}

/// How the Court's jurisdiction over the situation was triggered (art. 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerMechanism {
    /// Art. 13(b): referred by the Security Council.
    UnscReferral,
    /// Art. 13(a) / 14: referred by a State Party.
    StateReferral,
    /// Art. 13(c) / 15: the Prosecutor's own motion.
    ProprioMotu,
}

/// The situation under investigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Situation {
    /// e.g. "Darfur, Sudan".
    pub name: String,
    /// How jurisdiction was triggered.
    pub trigger_mechanism: TriggerMechanism,
    /// The Security Council resolution, for UNSC referrals (e.g. "S/RES/1593 (2005)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsc_resolution: Option<String>,
}

/// Kind of cooperation request outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Arts. 89 and 91.
    ArrestAndSurrender,
    /// Art. 92.
    ProvisionalArrest,
    /// Art. 93.
    OtherAssistance,
}

/// The Court's request for cooperation at the origin of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CooperationRequest {
    /// What is requested.
    pub kind: RequestKind,
    /// When the Registry transmitted it.
    pub transmitted_on: NaiveDate,
    /// `false` once executed or withdrawn.
    pub outstanding: bool,
}

/// Facts captured when a case opens; immutable afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseFacts {
    /// The State requested to cooperate.
    pub requested_state: RequestedState,
    /// The person sought.
    pub person_sought: PersonSought,
    /// The situation.
    pub situation: Situation,
    /// The request.
    pub request: CooperationRequest,
}

impl RequestKind {
    /// The Rome Statute articles that oblige the State to execute this kind of request:
    /// arrest and surrender arts. 89 and 91, provisional arrest art. 92, other forms of
    /// assistance art. 93.
    pub fn articles(self) -> &'static [&'static str] {
        match self {
            RequestKind::ArrestAndSurrender => &["art. 89", "art. 91"],
            RequestKind::ProvisionalArrest => &["art. 92"],
            RequestKind::OtherAssistance => &["art. 93"],
        }
    }
}

impl CaseFacts {
    /// The obligations a letter to the requested State recalls, as provisions of the Rome
    /// Statute: where the duty to cooperate comes from (art. 86 for a State Party or a State
    /// bound by a Security Council resolution, whose obligation is the Statute's through the
    /// referral; art. 87(5)(a) for a non-State Party under an ad hoc arrangement) and the
    /// articles of the request concerned ([`RequestKind::articles`]). A State under no
    /// obligation has no duty to recall beyond the request itself.
    pub fn obligations(&self) -> Vec<String> {
        let source = match self.requested_state.status {
            StateStatus::StateParty | StateStatus::BoundByUnscResolution => Some("art. 86"),
            StateStatus::NonStatePartyAdHoc => Some("art. 87(5)(a)"),
            StateStatus::NotBound => None,
        };
        source
            .into_iter()
            .chain(self.request.kind.articles().iter().copied())
            .map(str::to_owned)
            .collect()
    }

    /// [`CaseFacts::obligations`] as citations, with the Security Council resolution when the
    /// State is bound by one and the situation names it.
    pub fn obligation_citations(&self) -> Vec<LegalCitation> {
        let mut out: Vec<LegalCitation> = self
            .obligations()
            .iter()
            .map(|p| LegalCitation::rome(p))
            .collect();
        if self.requested_state.status == StateStatus::BoundByUnscResolution
            && let Some(res) = self
                .situation
                .unsc_resolution
                .as_deref()
                .filter(|r| !r.trim().is_empty())
        {
            out.push(LegalCitation::new(res.trim(), "cooperation with the Court"));
        }
        out
    }
}

/// Checks the parts of [`CaseFacts`] that do not depend on the procedure.
pub(crate) fn validate_facts(f: &CaseFacts) -> Result<(), Rejection> {
    let code = &f.requested_state.iso_code;
    if !(code.len() == 2 || code.len() == 3) || !code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Rejection::InvalidField {
            field: "requested_state.iso_code".into(),
            expected: "an ISO 3166-1 code of 2 or 3 upper-case letters, e.g. ZA or JOR".into(),
        });
    }
    for (field, value) in [
        ("requested_state.name", &f.requested_state.name),
        ("person_sought.name", &f.person_sought.name),
        ("person_sought.case_number", &f.person_sought.case_number),
        ("situation.name", &f.situation.name),
    ] {
        if value.trim().is_empty() {
            return Err(Rejection::InvalidField {
                field: field.into(),
                expected: "a non-empty text".into(),
            });
        }
    }
    Ok(())
}

/// Requires a non-empty text field.
/// Legal time may not lie in the future: an act dated more than the rules' tolerance after the
/// server's clock is refused (docs/procedures.md, "Legal time").
///
/// # Errors
/// [`Rejection::LegalTimeInFuture`].
pub(crate) fn check_not_in_future(
    act: &ActMeta,
    ctx: &Context,
    rules: &ProcedureRules,
) -> Result<(), Rejection> {
    let hours = rules.legal_time_tolerance_hours;
    let latest = ctx.now + chrono::Duration::hours(i64::from(hours));
    if act.occurred_at > latest {
        return Err(Rejection::LegalTimeInFuture {
            occurred_at: act.occurred_at,
            latest_allowed: latest,
            tolerance_hours: hours,
        });
    }
    Ok(())
}

/// An act may not be dated before the act it answers (`answers`, in words, dated `earliest`).
///
/// # Errors
/// [`Rejection::LegalTimeBeforeAnsweredAct`].
pub(crate) fn check_not_before(
    on: NaiveDate,
    earliest: NaiveDate,
    answers: impl FnOnce() -> String,
) -> Result<(), Rejection> {
    if on < earliest {
        return Err(Rejection::LegalTimeBeforeAnsweredAct {
            occurred_on: on,
            earliest_allowed: earliest,
            answers: answers(),
        });
    }
    Ok(())
}

pub(crate) fn require_text(field: &str, value: &str) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        Err(Rejection::InvalidField {
            field: field.into(),
            expected: "a non-empty text".into(),
        })
    } else {
        Ok(())
    }
}

/// A deadline derived from a case's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deadline {
    /// What it is, e.g. `reply_window`.
    pub kind: DeadlineKind,
    /// The last day on which the act is on time, in `time_zone`. It has elapsed once that
    /// day has ended there.
    pub due: NaiveDate,
    /// `true` if the engine records an event when it elapses; `false` for Court-side or
    /// informational dates that are only shown.
    pub fires: bool,
    /// The zone (IANA name) whose calendar the due day belongs to: the case's rules' seat.
    pub time_zone: String,
}

impl Deadline {
    /// `true` once the due day has ended in the deadline's zone.
    pub fn has_elapsed(&self, now: DateTime<Utc>) -> bool {
        now >= self.ends_at()
    }

    /// The first instant after the due day in the deadline's zone.
    pub fn ends_at(&self) -> DateTime<Utc> {
        calendar::day_end(self.due, &self.time_zone)
    }
}

/// Kinds of deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The requested State's window to reply to the open letter (T_reply).
    ReplyWindow,
    /// E4: the Bureau should take up a referral within N days.
    BureauActionDue,
    /// The public meeting's scheduled date.
    PublicMeeting,
    /// The plenary session's opening.
    AssemblySession,
    /// Expected arrival of the person sought.
    ExpectedArrival,
    /// Expected departure of the person sought.
    ExpectedDeparture,
    /// Court-set date for the State's views.
    CourtViewsDue,
}

impl DeadlineKind {
    /// The deadline in words.
    pub fn label(self) -> &'static str {
        match self {
            DeadlineKind::ReplyWindow => "reply to the open letter due",
            DeadlineKind::BureauActionDue => "Bureau action due (E4)",
            DeadlineKind::PublicMeeting => "public meeting",
            DeadlineKind::AssemblySession => "Assembly session opens",
            DeadlineKind::ExpectedArrival => "expected arrival",
            DeadlineKind::ExpectedDeparture => "expected departure",
            DeadlineKind::CourtViewsDue => "State's views due to the Court",
        }
    }
}

impl StateStatus {
    /// The status in words.
    pub fn label(self) -> &'static str {
        match self {
            StateStatus::StateParty => "a State Party",
            StateStatus::NonStatePartyAdHoc => {
                "a non-State Party under an ad hoc arrangement (art. 87(5))"
            }
            StateStatus::BoundByUnscResolution => {
                "a non-State Party bound by a Security Council resolution"
            }
            StateStatus::NotBound => "a non-State Party under no obligation to cooperate",
        }
    }
}

/// Adds whole months to a date, clamping the day to the month's end (31 Jan + 1 month = 28/29 Feb).
pub fn add_months(date: NaiveDate, months: u32) -> NaiveDate {
    date.checked_add_months(chrono::Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Adds days to a date, saturating.
pub fn add_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;
