//! Named rejections: why a command was refused, with what a person needs to act on it.
//!
//! A rejection is an expected outcome and part of the API contract (the gRPC layer sends
//! [`Rejection::code`] and [`Rejection::fields`] in a `google.rpc.ErrorInfo`). Names follow
//! domain.md.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{CaseId, DeadlineKind, Region, Role, StateStatus};

/// Why a command was refused. The variant name is the stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code")]
pub enum Rejection {
    /// The principal's role may not issue this command.
    #[error("{} may not {}; only {} may", role.label(), command.replace('_', " "), labels(allowed))]
    NotPermitted {
        /// The acting role.
        role: Role,
        /// The command refused.
        command: String,
        /// Roles that may issue it.
        allowed: Vec<Role>,
    },
    /// A focal point acted outside its region.
    #[error(
        "{} acts only for States of its own group; this State is one of the {}",
        focal_point_region.map_or_else(|| "a focal point not named in the current roster".to_owned(), |r| format!("the focal point for the {}", r.label())),
        host_region.label()
    )]
    FocalPointRegionMismatch {
        /// The region the principal covers (none given).
        focal_point_region: Option<Region>,
        /// The requested State's region.
        host_region: Region,
    },
    /// The command does not fit the case's current state.
    #[error("{command} is not possible while the case is {state}; it is possible from: {}", allowed_from.join(", "))]
    NotAllowedInState {
        /// The command.
        command: String,
        /// The case's current state.
        state: String,
        /// States from which it is possible.
        allowed_from: Vec<String>,
    },
    /// The case is closed.
    #[error("the case is closed ({state}); no further acts can be recorded except a recurrence")]
    ProcedureClosed {
        /// The terminal state.
        state: String,
    },
    /// The finding is under appeal; only appeal outcomes, restoration of cooperation or
    /// mootness may be recorded.
    #[error(
        "the case is suspended while the finding is under appeal (since {suspended_since}); record the appeal judgment first"
    )]
    CaseSuspended {
        /// When the appeal was filed.
        suspended_since: NaiveDate,
    },
    /// The case has not been opened.
    #[error("the case has not been opened yet")]
    CaseNotOpened,
    /// The case was opened already.
    #[error("the case has already been opened")]
    CaseAlreadyOpened,
    /// A field of the command is missing or malformed.
    #[error("invalid {field}: expected {expected}")]
    InvalidField {
        /// Path of the field, e.g. `referral.decision_symbol`.
        field: String,
        /// What was expected.
        expected: String,
    },
    /// The referral does not go to the Assembly (UNSC only).
    #[error(
        "the referral is addressed to the {} only; the Assembly acts only on referrals addressed to it",
        targets.join(", ").replace("UNSC", "Security Council")
    )]
    NotReferredToAssembly {
        /// The referral's addressees.
        targets: Vec<String>,
    },
    /// A formal case exists already for this State and decision.
    #[error(
        "decision {decision_symbol} concerning {state} was already referred in case {existing_case}"
    )]
    DuplicateReferral {
        /// The case opened on it.
        existing_case: CaseId,
        /// The decision.
        decision_symbol: String,
        /// The State's code.
        state: String,
    },
    /// The open letter was already sent in this case.
    #[error("the open letter was already sent on {sent_on}")]
    LetterAlreadySent {
        /// When.
        sent_on: NaiveDate,
    },
    /// The open letter was already copied to all States Parties.
    #[error("the open letter was already circulated to all States Parties on {circulated_on}")]
    AlreadyCirculated {
        /// When.
        circulated_on: NaiveDate,
    },
    /// No public meeting was scheduled: the State has not been invited.
    #[error(
        "no public meeting has been scheduled, so the State has not been invited; schedule it first"
    )]
    NoInvitationIssued,
    /// Agenda guard (T_agenda_gap): the session opens too soon after the public meeting.
    #[error(
        "the session opening on {session_opening} is less than {gap_months} months after the public meeting of {public_meeting_on}; the earliest allowed opening is {earliest_allowed}: target the following session"
    )]
    AgendaTooLate {
        /// The session's opening.
        session_opening: NaiveDate,
        /// The earliest opening allowed.
        earliest_allowed: NaiveDate,
        /// The public meeting date.
        public_meeting_on: NaiveDate,
        /// The configured gap.
        gap_months: u32,
    },
    /// A deadline was said to have elapsed before it has.
    #[error("the deadline \"{}\" ({due}) has not passed at {now}", kind.label())]
    DeadlineNotReached {
        /// Which deadline.
        kind: DeadlineKind,
        /// Its due day.
        due: NaiveDate,
        /// The processing time.
        now: DateTime<Utc>,
    },
    /// No deadline that fires is pending in this state.
    #[error("no deadline is pending in state {state}")]
    NoDeadlinePending {
        /// The current state.
        state: String,
    },
    /// A source-report extension is switched off in this case's rules.
    #[error(
        "extension {extension} ({feature}) is not enabled in this case's rules (version {rules_version})"
    )]
    ExtensionDisabled {
        /// E1..E7.
        extension: String,
        /// What it is.
        feature: String,
        /// The case's rules version.
        rules_version: u32,
    },
    /// E1: the open letter must warn of specific measures.
    #[error(
        "this case's rules (E1) require the open letter to warn of the specific measures the Assembly could adopt: give warned_measures"
    )]
    WarnedMeasuresRequired,
    /// B1 guard: no request for arrest and surrender is outstanding.
    #[error(
        "no request for arrest and surrender (art. 89, or provisional arrest, art. 92) is outstanding for the person"
    )]
    NoOutstandingArrestRequest,
    /// B1 guard: the host is neither a State Party nor bound by a Security Council resolution.
    #[error(
        "the host State is {}: it is neither a State Party nor bound by a Security Council resolution",
        status.label()
    )]
    HostNotBound {
        /// Its status.
        status: StateStatus,
    },
    /// B4 guard: the incident is not specific, serious and imminent or ongoing.
    #[error(
        "good offices need a specific and serious incident that is imminent or ongoing; it was assessed as {}, {}, {} and {}",
        if *specific { "specific" } else { "not specific" },
        if *serious { "serious" } else { "not serious" },
        if *imminent { "imminent" } else { "not imminent" },
        if *ongoing { "ongoing" } else { "not ongoing" }
    )]
    NotSpecificOrSerious {
        /// Assessed specific.
        specific: bool,
        /// Assessed serious.
        serious: bool,
        /// Assessed imminent.
        imminent: bool,
        /// Assessed ongoing.
        ongoing: bool,
    },
    /// B3 guard: the assessment found the incident qualifies; it cannot be dismissed.
    #[error(
        "the assessment found a specific and serious incident that is imminent or ongoing; record a new assessment before dismissing"
    )]
    AssessmentQualifies,
    /// B16 on a case already escalated.
    #[error("the case was already escalated to formal case {formal_case}")]
    AlreadyEscalated {
        /// The formal case opened.
        formal_case: CaseId,
    },
    /// Roster: wrong number of focal points.
    #[error("{count} focal points appointed; the Bureau appoints {allowed}")]
    FocalPointCountInvalid {
        /// Number appointed.
        count: usize,
        /// What is allowed.
        allowed: String,
    },
    /// Roster: equitable geographical representation is not met.
    #[error("focal points must represent the regions equitably: {problem}")]
    InequitableRepresentation {
        /// What is wrong.
        problem: String,
    },
    /// Roster: the replaced State is not a focal point.
    #[error("{state} is not a focal point in this term")]
    NotAFocalPoint {
        /// The State's code.
        state: String,
    },
    /// Roster: a replacement must come from the same region.
    #[error(
        "a replacement must come from the same group: a State of the {} cannot replace one of the {}",
        replacement.label(),
        replaced.label()
    )]
    ReplacementRegionMismatch {
        /// Region of the State replaced.
        replaced: Region,
        /// Region of the replacement.
        replacement: Region,
    },
    /// Art. 97: no consultation with that reference in this case.
    #[error("no art. 97 consultation {reference:?} is recorded in this case")]
    UnknownConsultation {
        /// The reference given.
        reference: String,
    },
    /// The act's legal time lies in the future beyond the rules' tolerance.
    #[error(
        "the act is dated {occurred_at}, in the future: an act is recorded once it has happened (latest allowed now: {latest_allowed}, {tolerance_hours} h after the server's clock per rules.legal_time_tolerance_hours)"
    )]
    LegalTimeInFuture {
        /// The act's legal time.
        occurred_at: DateTime<Utc>,
        /// The latest legal time accepted now.
        latest_allowed: DateTime<Utc>,
        /// The rules' tolerance.
        tolerance_hours: u32,
    },
    /// The act is dated before the act it answers.
    #[error(
        "the act is dated {occurred_on}, before {answers}; give a date on or after {earliest_allowed}"
    )]
    LegalTimeBeforeAnsweredAct {
        /// The act's legal date.
        occurred_on: NaiveDate,
        /// The earliest date allowed.
        earliest_allowed: NaiveDate,
        /// The act it answers, in words (e.g. "the open letter of 2017-12-20").
        answers: String,
    },
    /// Views dated after the reply deadline while the reply window is still open on the clock.
    #[error(
        "views dated {received_on} fall after the reply deadline {reply_deadline}, but that deadline has not passed yet: record the views with the day they were received"
    )]
    ReplyWindowStillOpen {
        /// The date given.
        received_on: NaiveDate,
        /// The deadline.
        reply_deadline: NaiveDate,
    },
    /// The public meeting is already scheduled for that date.
    #[error("the public meeting is already scheduled for {scheduled_for}")]
    MeetingAlreadyScheduledFor {
        /// The date.
        scheduled_for: NaiveDate,
    },
    /// Art. 97: the consultation reference is already used.
    #[error("an art. 97 consultation {reference:?} is already recorded in this case")]
    ConsultationAlreadyRecorded {
        /// The reference.
        reference: String,
    },
    /// Art. 97: the consultation was already answered.
    #[error("the art. 97 consultation {reference:?} was already answered on {answered_on}")]
    ConsultationAlreadyAnswered {
        /// The reference.
        reference: String,
        /// When.
        answered_on: NaiveDate,
    },
}

/// Roles in words, joined with "or".
fn labels(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.label()).collect();
    match names.split_last() {
        None => "nobody".to_owned(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

impl Rejection {
    /// The stable code (the variant name, as in domain.md), e.g. `AgendaTooLate`.
    pub fn code(&self) -> String {
        /// serde_json's output, up to the end of the tag's value: serde writes an internally
        /// tagged enum's tag first, so `{"code":"Name"` is whole at its fourth quote, and the
        /// writer stops the rest there (a reply lists up to ~40 refused actions, each with its
        /// code: serialising every rejection whole was 7% of a server's CPU under load).
        struct UpToTag(Vec<u8>);
        impl std::io::Write for UpToTag {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.extend_from_slice(buf);
                if self.0.iter().filter(|&&b| b == b'"').count() >= 4 {
                    return Err(std::io::ErrorKind::Other.into());
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = UpToTag(Vec::with_capacity(48));
        let _stopped = serde_json::to_writer(&mut w, self);
        std::str::from_utf8(&w.0)
            .ok()
            .and_then(|t| t.strip_prefix("{\"code\":\""))
            .and_then(|t| t.strip_suffix('"'))
            .map_or_else(
                || self.fields().remove("code").unwrap_or_default(),
                str::to_owned,
            )
    }

    /// The rejection's fields as text (including `code`), for `google.rpc.ErrorInfo` metadata.
    pub fn fields(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(self) {
            for (k, v) in map {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(k, text);
            }
        }
        out
    }
}
