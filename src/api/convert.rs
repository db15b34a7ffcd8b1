//! Protobuf ↔ domain conversions. Every malformed field becomes an [`Invalid`] naming the
//! field's path and what was expected; nothing here panics on any input.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, de::DeserializeOwned};

use super::{limits::shown, status::Invalid};
use crate::{
    domain::{
        ActMeta, CaseFacts, CaseId, Confidentiality, CooperationRequest, DocumentRef,
        LegalCitation, PersonSought, ProcedureRules, RequestedState, Situation,
        case::{Availability, CaseState},
        consultation, formal, interpretative, preventive,
        rules::Extensions,
    },
    engine::{ApiCommand, LoadedCase, OpenCommand, SharedAction},
    pb::{self, execute_request::Command as Pb},
    store::{CaseSummary, RecordedEvent},
};

type R<T> = Result<T, Invalid>;

/// A required non-empty text.
pub fn text(field: &str, v: &str) -> R<String> {
    let t = v.trim();
    if t.is_empty() {
        Err(Invalid::new(field, "a non-empty text"))
    } else {
        Ok(t.to_owned())
    }
}

/// A client's request id: non-empty, at most 200 bytes, and not in the scheduler's reserved
/// namespace ([`crate::engine::SCHEDULER_REQUEST_PREFIX`]).
pub fn request_id(v: &str) -> R<String> {
    let id = text("request_id", v)?;
    if id.len() > super::limits::MAX_NAME_BYTES {
        return Err(Invalid::new("request_id", "at most 200 bytes"));
    }
    if id.starts_with(crate::engine::SCHEDULER_REQUEST_PREFIX) {
        return Err(Invalid::new(
            "request_id",
            format!(
                "an id that does not start with {:?} (reserved for the deadline scheduler)",
                crate::engine::SCHEDULER_REQUEST_PREFIX
            ),
        ));
    }
    Ok(id)
}

fn opt_text(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The earliest legal date accepted in a request (documented in docs/api.md).
pub const EARLIEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// The latest legal date accepted in a request (documented in docs/api.md).
pub const LATEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

fn window(field: &str, d: NaiveDate) -> R<NaiveDate> {
    if d < EARLIEST_DATE || d > LATEST_DATE {
        Err(Invalid::new(
            field,
            format!("a date between {EARLIEST_DATE} and {LATEST_DATE}, got {d}"),
        ))
    } else {
        Ok(d)
    }
}

/// A required date `YYYY-MM-DD` within [`EARLIEST_DATE`]..=[`LATEST_DATE`].
pub fn date(field: &str, v: &str) -> R<NaiveDate> {
    let d = NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| Invalid::new(field, format!("a date as YYYY-MM-DD, got {}", shown(v))))?;
    window(field, d)
}

fn opt_date(field: &str, v: &str) -> R<Option<NaiveDate>> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        date(field, v).map(Some)
    }
}

/// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range of
/// `google.protobuf.Timestamp`.
const PROTO_MIN_SECONDS: i64 = -62_135_596_800;
const PROTO_MAX_SECONDS: i64 = 253_402_300_799;

/// A protobuf timestamp as UTC, within the range `google.protobuf.Timestamp` defines
/// (0001-01-01 to 9999-12-31, nanos 0..=999,999,999). A point in time for a query.
pub fn timestamp(field: &str, t: Option<&prost_types::Timestamp>) -> R<DateTime<Utc>> {
    let t = t.ok_or_else(|| Invalid::new(field, "a timestamp (RFC 3339 in JSON clients)"))?;
    if !(0..=999_999_999).contains(&t.nanos) {
        return Err(Invalid::new(field, "nanos between 0 and 999999999"));
    }
    if !(PROTO_MIN_SECONDS..=PROTO_MAX_SECONDS).contains(&t.seconds) {
        return Err(Invalid::new(
            field,
            "a timestamp between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
        ));
    }
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)).ok_or_else(|| {
        Invalid::new(
            field,
            "a timestamp between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
        )
    })
}

/// The legal time of an act: a protobuf timestamp whose date lies within
/// [`EARLIEST_DATE`]..=[`LATEST_DATE`].
pub fn legal_time(field: &str, t: Option<&prost_types::Timestamp>) -> R<DateTime<Utc>> {
    let at = timestamp(field, t)?;
    window(field, at.date_naive())?;
    Ok(at)
}

/// An IANA time zone name (the domain's check and words).
fn zone(field: &str, v: &str) -> R<()> {
    crate::domain::calendar::zone(field, v)
        .map(drop)
        .map_err(|r| match r {
            crate::domain::Rejection::InvalidField { field, expected } => {
                Invalid::new(field, expected)
            }
            other => Invalid::new(field, other.to_string()),
        })
}

/// Holidays for the rules.
fn holidays(v: &[String]) -> R<Vec<NaiveDate>> {
    if v.len() > 100 {
        return Err(Invalid::new("rules.holidays", "at most 100 dates"));
    }
    v.iter()
        .enumerate()
        .map(|(i, d)| date(&format!("rules.holidays[{i}]"), d))
        .collect()
}

/// UTC time as a protobuf timestamp.
pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A snake_case enumeration value, parsed through the domain's own serde names.
fn choice<T: DeserializeOwned>(field: &str, v: &str, allowed: &str) -> R<T> {
    serde_json::from_value(serde_json::Value::String(v.trim().to_owned()))
        .map_err(|_| Invalid::new(field, format!("one of {allowed}, got {}", shown(v))))
}

/// The snake_case name of an enumeration value.
pub fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A case id (UUID).
pub fn case_id(field: &str, v: &str) -> R<CaseId> {
    uuid::Uuid::parse_str(v.trim())
        .map(CaseId)
        .map_err(|_| Invalid::new(field, format!("a case id (UUID), got {}", shown(v))))
}

fn texts(v: &[String]) -> Vec<String> {
    v.iter().filter_map(|s| opt_text(s)).collect()
}

/// The act of a command.
pub fn act(a: Option<&pb::Act>) -> R<ActMeta> {
    let a = a.ok_or_else(|| Invalid::new("act", "the act, with at least occurred_at"))?;
    let mut documents = Vec::new();
    for (i, d) in a.documents.iter().enumerate() {
        let f = |x: &str| format!("act.documents[{i}].{x}");
        let sha = opt_text(&d.content_sha256);
        if let Some(h) = &sha
            && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(Invalid::new(f("content_sha256"), "64 hexadecimal digits"));
        }
        documents.push(DocumentRef {
            symbol: text(&f("symbol"), &d.symbol)?,
            date: opt_date(&f("date"), &d.date)?,
            language: opt_text(&d.language),
            url: opt_text(&d.url),
            content_sha256: sha.map(|h| h.to_lowercase()),
        });
    }
    let mut citations = Vec::new();
    for (i, c) in a.citations.iter().enumerate() {
        citations.push(LegalCitation {
            instrument: text(&format!("act.citations[{i}].instrument"), &c.instrument)?,
            provision: text(&format!("act.citations[{i}].provision"), &c.provision)?,
        });
    }
    let confidentiality = if a.confidentiality.trim().is_empty() {
        Confidentiality::Public
    } else {
        choice(
            "act.confidentiality",
            &a.confidentiality,
            "public, confidential",
        )?
    };
    let time_zone = opt_text(&a.time_zone);
    if let Some(z) = &time_zone {
        zone("act.time_zone", z)?;
    }
    Ok(ActMeta {
        occurred_at: legal_time("act.occurred_at", a.occurred_at.as_ref())?,
        documents,
        citations,
        confidentiality,
        note: opt_text(&a.note),
        time_zone: time_zone.map(|z| z.trim().to_owned()),
    })
}

const REGIONS: &str =
    "african, asia_pacific, eastern_european, latin_american_caribbean, western_european_other";

/// A region name.
pub fn region(field: &str, v: &str) -> R<crate::domain::Region> {
    choice(field, v, REGIONS)
}

/// The facts of a case.
pub fn facts(f: Option<&pb::CaseFacts>) -> R<CaseFacts> {
    let f = f.ok_or_else(|| Invalid::new("facts", "the case facts"))?;
    let s = f
        .requested_state
        .as_ref()
        .ok_or_else(|| Invalid::new("facts.requested_state", "the requested State"))?;
    let p = f
        .person_sought
        .as_ref()
        .ok_or_else(|| Invalid::new("facts.person_sought", "the person sought"))?;
    let sit = f
        .situation
        .as_ref()
        .ok_or_else(|| Invalid::new("facts.situation", "the situation"))?;
    let req = f
        .request
        .as_ref()
        .ok_or_else(|| Invalid::new("facts.request", "the cooperation request"))?;
    let mut warrant_dates = Vec::new();
    for (i, d) in p.warrant_dates.iter().enumerate() {
        warrant_dates.push(date(&format!("facts.person_sought.warrant_dates[{i}]"), d)?);
    }
    Ok(CaseFacts {
        requested_state: RequestedState {
            iso_code: text("facts.requested_state.iso_code", &s.iso_code)?,
            name: text("facts.requested_state.name", &s.name)?,
            status: choice(
                "facts.requested_state.status",
                &s.status,
                "state_party, non_state_party_ad_hoc, bound_by_unsc_resolution, not_bound",
            )?,
            region: region("facts.requested_state.region", &s.region)?,
        },
        person_sought: PersonSought {
            name: text("facts.person_sought.name", &p.name)?,
            case_number: text("facts.person_sought.case_number", &p.case_number)?,
            warrant_dates,
        },
        situation: Situation {
            name: text("facts.situation.name", &sit.name)?,
            trigger_mechanism: choice(
                "facts.situation.trigger_mechanism",
                &sit.trigger_mechanism,
                "unsc_referral, state_referral, proprio_motu",
            )?,
            unsc_resolution: opt_text(&sit.unsc_resolution),
        },
        request: CooperationRequest {
            kind: choice(
                "facts.request.kind",
                &req.kind,
                "arrest_and_surrender, provisional_arrest, other_assistance",
            )?,
            transmitted_on: date("facts.request.transmitted_on", &req.transmitted_on)?,
            outstanding: req.outstanding,
        },
    })
}

/// A Court referral.
pub fn referral(prefix: &str, r: Option<&pb::Referral>) -> R<formal::Referral> {
    let r = r.ok_or_else(|| Invalid::new(prefix, "the Court's referral"))?;
    let f = |x: &str| format!("{prefix}.{x}");
    let mut targets = Vec::new();
    for (i, t) in r.targets.iter().enumerate() {
        targets.push(choice(&format!("{prefix}.targets[{i}]"), t, "asp, unsc")?);
    }
    Ok(formal::Referral {
        legal_basis: choice(&f("legal_basis"), &r.legal_basis, "art_87_7, art_87_5b")?,
        chamber: text(&f("chamber"), &r.chamber)?,
        decision_symbol: text(&f("decision_symbol"), &r.decision_symbol)?,
        decision_date: date(&f("decision_date"), &r.decision_date)?,
        transmitted_on: date(&f("transmitted_on"), &r.transmitted_on)?,
        targets,
        incident_from: opt_date(&f("incident_from"), &r.incident_from)?,
        incident_to: opt_date(&f("incident_to"), &r.incident_to)?,
        incident_location: opt_text(&r.incident_location),
    })
}

/// Largest number of days in a rules period (a reply window, a meeting delay).
pub const MAX_RULE_DAYS: u32 = 366;
/// Largest legal-time tolerance in hours (one week).
pub const MAX_TOLERANCE_HOURS: u32 = 168;
/// Largest agenda gap in months.
pub const MAX_RULE_MONTHS: u32 = 60;

/// Procedure rules over `defaults`: a zero number keeps the default; periods are bounded
/// ([`MAX_RULE_DAYS`], [`MAX_RULE_MONTHS`]) so that no deadline falls outside the calendar.
pub fn rules(
    r: Option<&pb::ProcedureRules>,
    defaults: &ProcedureRules,
) -> R<Option<ProcedureRules>> {
    let Some(r) = r else { return Ok(None) };
    let bounded = |field: &str, v: u32, max: u32| {
        if v > max {
            Err(Invalid::new(
                format!("rules.{field}"),
                format!("at most {max} (0 keeps the default), got {v}"),
            ))
        } else {
            Ok(v)
        }
    };
    bounded("reply_window_days", r.reply_window_days, MAX_RULE_DAYS)?;
    bounded("agenda_gap_months", r.agenda_gap_months, MAX_RULE_MONTHS)?;
    bounded(
        "public_meeting_within_days",
        r.public_meeting_within_days,
        MAX_RULE_DAYS,
    )?;
    bounded(
        "e4_bureau_action_days",
        r.e4_bureau_action_days,
        MAX_RULE_DAYS,
    )?;
    bounded("focal_point_count", r.focal_point_count, 10)?;
    bounded(
        "legal_time_tolerance_hours",
        r.legal_time_tolerance_hours,
        MAX_TOLERANCE_HOURS,
    )?;
    if !r.set_fields.is_empty() {
        return partial_rules(r, defaults).map(Some);
    }
    let or = |v: u32, d: u32| if v == 0 { d } else { v };
    Ok(Some(ProcedureRules {
        version: defaults.version,
        reply_window_days: or(r.reply_window_days, defaults.reply_window_days),
        agenda_gap_months: or(r.agenda_gap_months, defaults.agenda_gap_months),
        public_meeting_within_days: or(
            r.public_meeting_within_days,
            defaults.public_meeting_within_days,
        ),
        report_without_public_meeting: r.report_without_public_meeting,
        extend_reply_window_after_suspension: r.extend_reply_window_after_suspension,
        focal_point_count: or(r.focal_point_count, defaults.focal_point_count),
        legal_time_tolerance_hours: or(
            r.legal_time_tolerance_hours,
            defaults.legal_time_tolerance_hours,
        ),
        seat_time_zone: if r.seat_time_zone.trim().is_empty() {
            defaults.seat_time_zone.clone()
        } else {
            zone("rules.seat_time_zone", &r.seat_time_zone)?;
            r.seat_time_zone.trim().to_owned()
        },
        deadlines_roll_forward: r.deadlines_roll_forward,
        holidays: holidays(&r.holidays)?,
        extensions: Extensions {
            e1_warned_measures: r.e1_warned_measures,
            e2_publication: r.e2_publication,
            e3_unsc_referral: r.e3_unsc_referral,
            e4_prompt_response: r.e4_prompt_response,
            e4_bureau_action_days: or(
                r.e4_bureau_action_days,
                defaults.extensions.e4_bureau_action_days,
            ),
            e5_interpretative_resolutions: r.e5_interpretative_resolutions,
            e6_consultation_participation: r.e6_consultation_participation,
            e7_standing_channel: r.e7_standing_channel,
        },
    }))
}

/// Rules as the API shows them: every field set, `set_fields` empty.
pub fn rules_to_pb(r: &ProcedureRules) -> pb::ProcedureRules {
    let e = &r.extensions;
    pb::ProcedureRules {
        reply_window_days: r.reply_window_days,
        agenda_gap_months: r.agenda_gap_months,
        public_meeting_within_days: r.public_meeting_within_days,
        report_without_public_meeting: r.report_without_public_meeting,
        extend_reply_window_after_suspension: r.extend_reply_window_after_suspension,
        focal_point_count: r.focal_point_count,
        e1_warned_measures: e.e1_warned_measures,
        e2_publication: e.e2_publication,
        e3_unsc_referral: e.e3_unsc_referral,
        e4_prompt_response: e.e4_prompt_response,
        e4_bureau_action_days: e.e4_bureau_action_days,
        e5_interpretative_resolutions: e.e5_interpretative_resolutions,
        e6_consultation_participation: e.e6_consultation_participation,
        e7_standing_channel: e.e7_standing_channel,
        set_fields: Vec::new(),
        legal_time_tolerance_hours: r.legal_time_tolerance_hours,
        seat_time_zone: r.seat_time_zone.clone(),
        deadlines_roll_forward: r.deadlines_roll_forward,
        holidays: r.holidays.iter().map(ToString::to_string).collect(),
    }
}

/// The fields of `ProcedureRules` that `set_fields` may name.
const RULE_FIELDS: &str = "reply_window_days, agenda_gap_months, public_meeting_within_days, \
     report_without_public_meeting, extend_reply_window_after_suspension, focal_point_count, \
     e1_warned_measures, e2_publication, e3_unsc_referral, e4_prompt_response, \
     e4_bureau_action_days, e5_interpretative_resolutions, e6_consultation_participation, \
     e7_standing_channel, legal_time_tolerance_hours, seat_time_zone, deadlines_roll_forward, \
     holidays";

/// A `ProcedureRules` with `set_fields`: `base` with only the named fields changed.
fn partial_rules(r: &pb::ProcedureRules, base: &ProcedureRules) -> R<ProcedureRules> {
    let mut out = base.clone();
    for (i, name) in r.set_fields.iter().enumerate() {
        let field = format!("rules.set_fields[{i}]");
        let number = |v: u32, target: &mut u32| {
            if v == 0 {
                Err(Invalid::new(
                    format!("rules.{}", name.trim()),
                    "at least 1 when named in set_fields",
                ))
            } else {
                *target = v;
                Ok(())
            }
        };
        let e = &mut out.extensions;
        match name.trim() {
            "reply_window_days" => number(r.reply_window_days, &mut out.reply_window_days)?,
            "agenda_gap_months" => number(r.agenda_gap_months, &mut out.agenda_gap_months)?,
            "public_meeting_within_days" => number(
                r.public_meeting_within_days,
                &mut out.public_meeting_within_days,
            )?,
            "focal_point_count" => number(r.focal_point_count, &mut out.focal_point_count)?,
            "legal_time_tolerance_hours" => number(
                r.legal_time_tolerance_hours,
                &mut out.legal_time_tolerance_hours,
            )?,
            "seat_time_zone" => {
                zone("rules.seat_time_zone", &r.seat_time_zone)?;
                out.seat_time_zone = r.seat_time_zone.trim().to_owned();
            }
            "deadlines_roll_forward" => out.deadlines_roll_forward = r.deadlines_roll_forward,
            "holidays" => out.holidays = holidays(&r.holidays)?,
            "e4_bureau_action_days" => {
                number(r.e4_bureau_action_days, &mut e.e4_bureau_action_days)?
            }
            "report_without_public_meeting" => {
                out.report_without_public_meeting = r.report_without_public_meeting;
            }
            "extend_reply_window_after_suspension" => {
                out.extend_reply_window_after_suspension = r.extend_reply_window_after_suspension;
            }
            "e1_warned_measures" => e.e1_warned_measures = r.e1_warned_measures,
            "e2_publication" => e.e2_publication = r.e2_publication,
            "e3_unsc_referral" => e.e3_unsc_referral = r.e3_unsc_referral,
            "e4_prompt_response" => e.e4_prompt_response = r.e4_prompt_response,
            "e5_interpretative_resolutions" => {
                e.e5_interpretative_resolutions = r.e5_interpretative_resolutions;
            }
            "e6_consultation_participation" => {
                e.e6_consultation_participation = r.e6_consultation_participation;
            }
            "e7_standing_channel" => e.e7_standing_channel = r.e7_standing_channel,
            other => {
                return Err(Invalid::new(
                    field,
                    format!(
                        "a field of ProcedureRules ({RULE_FIELDS}), got {}",
                        super::limits::shown(other)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// An opening's `rules`: refused. A new case pins the Bureau's rules in force; only the
/// Bureau changes them (issue 13 item 7).
fn no_opener_rules(r: Option<&pb::ProcedureRules>) -> R<()> {
    match r {
        None => Ok(()),
        Some(_) => Err(Invalid::new(
            "rules",
            "no rules: a new case pins the Bureau's rules in force (Roster.GetRulesInForce); the Bureau changes them with Roster.AdoptProcedureRules, or one case's with amend_rules",
        )),
    }
}

/// `OpenFormalCase`.
pub fn open_formal(r: &pb::OpenFormalCaseRequest) -> R<OpenCommand> {
    no_opener_rules(r.rules.as_ref())?;
    Ok(OpenCommand::Formal {
        act: act(r.act.as_ref())?,
        facts: facts(r.facts.as_ref())?,
        referral: referral("referral", r.referral.as_ref())?,
        previous_case: opt_text(&r.previous_case_id)
            .map(|v| case_id("previous_case_id", &v))
            .transpose()?,
    })
}

/// `ProposeInterpretativeResolution`: the linked cases as given (ids or references), resolved
/// by the caller.
pub fn propose_resolution(
    r: &pb::ProposeInterpretativeResolutionRequest,
    linked_cases: Vec<CaseId>,
) -> R<OpenCommand> {
    Ok(OpenCommand::Interpretative {
        act: act(r.act.as_ref())?,
        provision: text("provision", &r.provision)?,
        issue: text("issue", &r.issue)?,
        text: text("text", &r.text)?,
        linked_cases,
    })
}

/// `OpenPreventiveCase`.
pub fn open_preventive(r: &pb::OpenPreventiveCaseRequest) -> R<OpenCommand> {
    no_opener_rules(r.rules.as_ref())?;
    let a = r
        .alert
        .as_ref()
        .ok_or_else(|| Invalid::new("alert", "the alert"))?;
    Ok(OpenCommand::Preventive {
        act: act(r.act.as_ref())?,
        facts: facts(r.facts.as_ref())?,
        alert: preventive::Alert {
            source_type: choice(
                "alert.source_type",
                &a.source_type,
                "registry, otp, chamber, state_party, focal_point, ngo, media",
            )?,
            expected_arrival: opt_date("alert.expected_arrival", &a.expected_arrival)?,
            expected_departure: opt_date("alert.expected_departure", &a.expected_departure)?,
            event_name: text("alert.event_name", &a.event_name)?,
            confidence: a.confidence.trim().to_owned(),
        },
    })
}

/// The `command` of an `ExecuteRequest`.
pub fn command(c: Option<&Pb>, defaults: &ProcedureRules) -> R<ApiCommand> {
    use ApiCommand::{Formal as F, Preventive as P, Shared as S};
    use formal::Action as FA;
    use preventive::Action as PA;
    let c = c.ok_or_else(|| {
        Invalid::new(
            "command",
            "one command (e.g. seize_bureau, send_open_letter, assess_situation)",
        )
    })?;
    Ok(match c {
        Pb::ConveneEmergencyBureauMeeting(m) => F(FA::ConveneEmergencyBureauMeeting {
            meeting_no: text("convene_emergency_bureau_meeting.meeting_no", &m.meeting_no)?,
            urgency_rationale: text(
                "convene_emergency_bureau_meeting.urgency_rationale",
                &m.urgency_rationale,
            )?,
            quorum_present: m.quorum_present,
        }),
        Pb::SeizeBureau(m) => F(FA::SeizeBureau {
            meeting_no: text("seize_bureau.meeting_no", &m.meeting_no)?,
            quorum_present: m.quorum_present,
        }),
        Pb::SendOpenLetter(m) => F(FA::SendOpenLetter {
            letter_ref: text("send_open_letter.letter_ref", &m.letter_ref)?,
            signatory: text("send_open_letter.signatory", &m.signatory)?,
            addressee: text("send_open_letter.addressee", &m.addressee)?,
            obligations_recalled: texts(&m.obligations_recalled),
            warned_measures: texts(&m.warned_measures),
            published_channels: texts(&m.published_channels),
        }),
        Pb::CirculateOpenLetter(m) => F(FA::CirculateOpenLetter {
            distribution_list_ref: text(
                "circulate_open_letter.distribution_list_ref",
                &m.distribution_list_ref,
            )?,
        }),
        Pb::RecordViews(m) => F(FA::RecordViews {
            document_ref: text("record_views.document_ref", &m.document_ref)?,
            summary: m.summary.trim().to_owned(),
            asserted_grounds: texts(&m.asserted_grounds),
        }),
        Pb::SchedulePublicMeeting(m) => F(FA::SchedulePublicMeeting {
            date: date("schedule_public_meeting.date", &m.date)?,
            venue: text("schedule_public_meeting.venue", &m.venue)?,
            invitation_ref: text("schedule_public_meeting.invitation_ref", &m.invitation_ref)?,
        }),
        Pb::RecordPublicMeeting(m) => F(FA::RecordPublicMeeting {
            attendance: choice(
                "record_public_meeting.attendance",
                &m.attendance,
                "attended, declined, no_show",
            )?,
            state_statement_ref: opt_text(&m.state_statement_ref),
            record_ref: text("record_public_meeting.record_ref", &m.record_ref)?,
        }),
        Pb::AdoptBureauReport(m) => F(FA::AdoptBureauReport {
            report_symbol: text("adopt_bureau_report.report_symbol", &m.report_symbol)?,
            recommendations: texts(&m.recommendations),
            omnibus_language_ref: opt_text(&m.omnibus_language_ref),
        }),
        Pb::PlaceOnAssemblyAgenda(m) => F(FA::PlaceOnAssemblyAgenda {
            session_no: positive("place_on_assembly_agenda.session_no", m.session_no)?,
            session_opening: date(
                "place_on_assembly_agenda.session_opening",
                &m.session_opening,
            )?,
            agenda_item: text("place_on_assembly_agenda.agenda_item", &m.agenda_item)?,
        }),
        Pb::RecordPlenaryDiscussion(m) => F(FA::RecordPlenaryDiscussion {
            session_no: positive("record_plenary_discussion.session_no", m.session_no)?,
            speakers: texts(&m.speakers),
            record_ref: text("record_plenary_discussion.record_ref", &m.record_ref)?,
        }),
        Pb::RecordAssemblyResolution(m) => F(FA::RecordAssemblyResolution {
            resolution_symbol: text(
                "record_assembly_resolution.resolution_symbol",
                &m.resolution_symbol,
            )?,
            paragraphs: texts(&m.paragraphs),
            adoption: choice(
                "record_assembly_resolution.adoption",
                &m.adoption,
                "consensus, vote",
            )?,
        }),
        Pb::RecordCooperationRestored(m) => F(FA::RecordCooperationRestored {
            basis: text("record_cooperation_restored.basis", &m.basis)?,
            court_notice_ref: opt_text(&m.court_notice_ref),
        }),
        Pb::RecordFindingAppealed(m) => F(FA::RecordFindingAppealed {
            appeal_symbol: text("record_finding_appealed.appeal_symbol", &m.appeal_symbol)?,
        }),
        Pb::RecordAppealJudgment(m) => F(FA::RecordAppealJudgment {
            appeal_symbol: text("record_appeal_judgment.appeal_symbol", &m.appeal_symbol)?,
            outcome: choice(
                "record_appeal_judgment.outcome",
                &m.outcome,
                "finding_confirmed, referral_reversed",
            )?,
        }),
        Pb::RecordMatterMoot(m) => S(SharedAction::RecordMatterMoot {
            basis: choice(
                "record_matter_moot.basis",
                &m.basis,
                "warrant_withdrawn, surrendered_elsewhere, person_deceased, case_terminated, no_court_proceedings",
            )?,
            court_notice_ref: opt_text(&m.court_notice_ref),
        }),
        Pb::RecordWithdrawalNotified(m) => S(SharedAction::Withdrawal(
            crate::domain::withdrawal::Action::Notify {
                notification_ref: text(
                    "record_withdrawal_notified.notification_ref",
                    &m.notification_ref,
                )?,
                effective_on: opt_date("record_withdrawal_notified.effective_on", &m.effective_on)?,
            },
        )),
        Pb::RecordWithdrawalRevoked(m) => S(SharedAction::Withdrawal(
            crate::domain::withdrawal::Action::Revoke {
                reference: text("record_withdrawal_revoked.reference", &m.reference)?,
            },
        )),
        Pb::RecordWithdrawalTookEffect(_) => S(SharedAction::Withdrawal(
            crate::domain::withdrawal::Action::TakeEffect,
        )),
        Pb::CancelPublicMeeting(m) => F(FA::CancelPublicMeeting {
            reason: text("cancel_public_meeting.reason", &m.reason)?,
        }),
        Pb::RecordCourtWithdrawal(m) => F(FA::RecordCourtWithdrawal {
            decision_symbol: text(
                "record_court_withdrawal.decision_symbol",
                &m.decision_symbol,
            )?,
            withdrawal: choice(
                "record_court_withdrawal.withdrawal",
                &m.withdrawal,
                "referral_withdrawn, finding_revoked",
            )?,
        }),
        Pb::RecordUrgentDecision(m) => P(PA::RecordUrgentDecision {
            decision_symbol: text("record_urgent_decision.decision_symbol", &m.decision_symbol)?,
            summary: text("record_urgent_decision.summary", &m.summary)?,
        }),
        Pb::RecordCourtDeadlineExtended(m) => P(PA::RecordCourtDeadlineExtended {
            order_symbol: text(
                "record_court_deadline_extended.order_symbol",
                &m.order_symbol,
            )?,
            views_due_on: opt_date(
                "record_court_deadline_extended.views_due_on",
                &m.views_due_on,
            )?,
            until: opt_text(&m.until),
        }),
        Pb::AdoptInterpretativeResolution(m) => {
            ApiCommand::Interpretative(interpretative::Action::Adopt {
                resolution_symbol: text(
                    "adopt_interpretative_resolution.resolution_symbol",
                    &m.resolution_symbol,
                )?,
                all_parties_agreed: m.all_parties_agreed,
            })
        }
        Pb::WithdrawInterpretativeResolution(m) => {
            ApiCommand::Interpretative(interpretative::Action::Withdraw {
                reason: text("withdraw_interpretative_resolution.reason", &m.reason)?,
            })
        }
        Pb::RecordCourtHearing(m) => P(PA::RecordCourtHearing {
            record_ref: text("record_court_hearing.record_ref", &m.record_ref)?,
        }),
        Pb::ConcludeConsideration(_) => F(FA::ConcludeConsideration),
        Pb::RecordRecurrence(m) => F(FA::RecordRecurrence {
            new_case_id: case_id("record_recurrence.new_case_id", &m.new_case_id)?,
            decision_symbol: text("record_recurrence.decision_symbol", &m.decision_symbol)?,
        }),
        Pb::SendUngaRequest(m) => F(FA::SendUngaRequest {
            request_ref: text("send_unga_request.request_ref", &m.request_ref)?,
            requested_measures: texts(&m.requested_measures),
        }),
        Pb::PublishLetter(m) => S(SharedAction::PublishLetter {
            channels: texts(&m.channels),
            url: opt_text(&m.url),
        }),
        Pb::ReferToSecurityCouncil(m) => S(SharedAction::ReferToSecurityCouncil {
            requested_measures: texts(&m.requested_measures),
        }),
        Pb::AmendRules(m) => S(SharedAction::AmendRules {
            rules: rules(m.rules.as_ref(), defaults)?
                .ok_or_else(|| Invalid::new("amend_rules.rules", "the new rules"))?,
            decision_ref: text("amend_rules.decision_ref", &m.decision_ref)?,
        }),
        Pb::RecordConsultationRequested(m) => {
            let mut problems = Vec::new();
            for (i, p) in m.problems.iter().enumerate() {
                problems.push(choice(
                    &format!("record_consultation_requested.problems[{i}]"),
                    p,
                    "insufficient_info, cannot_locate, wrong_person, prior_treaty_obligation, other",
                )?);
            }
            S(SharedAction::Consultation(consultation::Action::Request {
                reference: text("record_consultation_requested.reference", &m.reference)?,
                problems,
            }))
        }
        Pb::RecordConsultationHeld(m) => {
            S(SharedAction::Consultation(consultation::Action::Hold {
                reference: text("record_consultation_held.reference", &m.reference)?,
            }))
        }
        Pb::RecordConsultationAnswered(m) => {
            S(SharedAction::Consultation(consultation::Action::Answer {
                reference: text("record_consultation_answered.reference", &m.reference)?,
                summary: text("record_consultation_answered.summary", &m.summary)?,
            }))
        }
        Pb::JoinConsultation(m) => S(SharedAction::Consultation(consultation::Action::Join {
            reference: text("join_consultation.reference", &m.reference)?,
            representative: choice(
                "join_consultation.representative",
                &m.representative,
                "president, bureau_member, focal_point",
            )?,
            name: text("join_consultation.name", &m.name)?,
        })),
        Pb::AssessSituation(m) => P(PA::AssessSituation {
            assessment: preventive::Assessment {
                specific: m.specific,
                serious: m.serious,
                imminent: m.imminent,
                ongoing: m.ongoing,
            },
            consulted_focal_points: texts(&m.consulted_focal_points),
        }),
        Pb::DismissAlert(m) => P(PA::DismissAlert {
            reason: text("dismiss_alert.reason", &m.reason)?,
        }),
        Pb::InitiateGoodOffices(_) => P(PA::InitiateGoodOffices),
        Pb::SendLetterToHostState(m) => P(PA::SendLetterToHostState {
            reference: text("send_letter_to_host_state.reference", &m.reference)?,
            addressee: text("send_letter_to_host_state.addressee", &m.addressee)?,
            text_ref: opt_text(&m.text_ref),
        }),
        Pb::MakeFocalPointDemarche(m) => P(PA::MakeFocalPointDemarche {
            focal_point_state: text(
                "make_focal_point_demarche.focal_point_state",
                &m.focal_point_state,
            )?,
            level: choice(
                "make_focal_point_demarche.level",
                &m.level,
                "capital, new_york, the_hague, embassy",
            )?,
        }),
        Pb::IssuePublicStatement(m) => P(PA::IssuePublicStatement {
            reference: text("issue_public_statement.reference", &m.reference)?,
            text_ref: opt_text(&m.text_ref),
        }),
        Pb::RecordVisitCancelled(m) => P(PA::RecordVisitCancelled {
            averted_by: choice(
                "record_visit_cancelled.averted_by",
                &m.averted_by,
                "visit_cancelled, event_relocated, host_declined",
            )?,
        }),
        Pb::RecordPersonArrived(m) => P(PA::RecordPersonArrived {
            location: text("record_person_arrived.location", &m.location)?,
            evidence_ref: opt_text(&m.evidence_ref),
        }),
        Pb::RecordArrestAndSurrender(m) => P(PA::RecordArrestAndSurrender {
            court_confirmation_ref: opt_text(&m.court_confirmation_ref),
        }),
        Pb::RecordDepartureWithoutArrest(m) => P(PA::RecordDepartureWithoutArrest {
            location: text("record_departure_without_arrest.location", &m.location)?,
            evidence_ref: opt_text(&m.evidence_ref),
        }),
        Pb::InformBureau(m) => P(PA::InformBureau {
            reference: text("inform_bureau.reference", &m.reference)?,
        }),
        Pb::RecordCourtProceedingsOpened(m) => P(PA::RecordCourtProceedingsOpened {
            order_symbol: text(
                "record_court_proceedings_opened.order_symbol",
                &m.order_symbol,
            )?,
            views_due_on: opt_date(
                "record_court_proceedings_opened.views_due_on",
                &m.views_due_on,
            )?,
        }),
        Pb::RecordCourtDetermination(m) => P(PA::RecordCourtDetermination {
            determination: choice(
                "record_court_determination.determination",
                &m.determination,
                "no_finding, finding_without_referral",
            )?,
            decision_symbol: text(
                "record_court_determination.decision_symbol",
                &m.decision_symbol,
            )?,
        }),
        Pb::RecordReferralDeferred(m) => P(PA::RecordReferralDeferred {
            decision_symbol: text(
                "record_referral_deferred.decision_symbol",
                &m.decision_symbol,
            )?,
            reason: text("record_referral_deferred.reason", &m.reason)?,
        }),
        Pb::RecordCourtReferral(m) => ApiCommand::CourtReferral(referral(
            "record_court_referral.referral",
            m.referral.as_ref(),
        )?),
    })
}

fn positive(field: &str, v: u32) -> R<u32> {
    if v == 0 {
        Err(Invalid::new(field, "a number of at least 1"))
    } else {
        Ok(v)
    }
}

/// A stored event for the API.
pub fn event(r: &RecordedEvent) -> pb::RecordedEvent {
    pb::RecordedEvent {
        global_position: r.global_position,
        case_id: r.stream.to_string(),
        version: r.version,
        event_type: r.event_type.clone(),
        schema_version: r.schema_version,
        payload_json: String::from_utf8_lossy(&r.payload).into_owned(),
        occurred_at: Some(to_timestamp(r.occurred_at)),
        recorded_at: Some(to_timestamp(r.recorded_at)),
        actor: r.actor.clone(),
        role: r.role.clone(),
        request_id: r.request_id.clone(),
        correlation_id: r
            .correlation_id
            .map(|c| c.hyphenated().to_string())
            .unwrap_or_default(),
        prev_hash: r.prev_hash.to_hex(),
        hash: r.hash.to_hex(),
        redacted: false,
    }
}

fn deadline(d: &crate::domain::Deadline) -> pb::Deadline {
    pb::Deadline {
        kind: name_of(&d.kind),
        due: d.due.to_string(),
        fires: d.fires,
        time_zone: d.time_zone.clone(),
        ends_at: Some(to_timestamp(d.ends_at())),
    }
}

/// A case for the API.
pub fn case_view(c: &LoadedCase) -> pb::CaseView {
    case_view_with(c, true)
}

/// A case for the API; without `state_json` (left empty) unless `with_state`.
pub fn case_view_with(c: &LoadedCase, with_state: bool) -> pb::CaseView {
    let d = c.state.describe();
    let facts = d.as_ref().and_then(|d| d.facts);
    let state_json = if with_state {
        match &*c.state {
            CaseState::Formal(s) => serde_json::to_string(s),
            CaseState::Preventive(s) => serde_json::to_string(s),
            CaseState::Interpretative(s) => serde_json::to_string(s),
            CaseState::Roster(s) => serde_json::to_string(s),
        }
        .unwrap_or_default()
    } else {
        String::new()
    };
    pb::CaseView {
        case_id: c.id.to_string(),
        reference: d.as_ref().map(|d| d.reference.clone()).unwrap_or_default(),
        procedure: name_of(&c.state.procedure()),
        state: c.state.name().to_owned(),
        closed: d.as_ref().is_some_and(|d| d.closed),
        version: c.version,
        requested_state: facts.map(|f| pb::RequestedState {
            iso_code: f.requested_state.iso_code.clone(),
            name: f.requested_state.name.clone(),
            status: name_of(&f.requested_state.status),
            region: f.requested_state.region.as_str().to_owned(),
        }),
        person_sought: facts
            .map(|f| f.person_sought.name.clone())
            .unwrap_or_default(),
        next_deadline: c
            .state
            .deadlines()
            .iter()
            .min_by_key(|d| d.due)
            .map(deadline),
        deadlines: c.state.deadlines().iter().map(deadline).collect(),
        state_json,
        linked_case_id: d
            .as_ref()
            .and_then(|d| d.linked_case)
            .map(|l| l.to_string())
            .unwrap_or_default(),
        last_occurred_at: d
            .as_ref()
            .and_then(|d| d.last_occurred_at)
            .or_else(|| c.events.last().map(|(r, _)| r.occurred_at))
            .map(to_timestamp),
    }
}

/// Availability for the API.
pub fn availability(a: &Availability) -> pb::ActionAvailability {
    pb::ActionAvailability {
        command: a.command.as_str().to_owned(),
        allowed: a.denied.is_none(),
        reason_code: a.denied.as_ref().map(|r| r.code()).unwrap_or_default(),
        reason: a.denied.as_ref().map(|r| r.to_string()).unwrap_or_default(),
    }
}

/// A read-model row for the API.
pub fn summary(s: &CaseSummary) -> pb::CaseSummary {
    pb::CaseSummary {
        case_id: s.row.stream.to_string(),
        reference: s.row.reference.clone(),
        procedure: s.row.procedure.clone(),
        state: s.row.state.clone(),
        closed: s.row.closed,
        requested_state: s.row.requested_state.clone(),
        requested_state_name: s.row.requested_state_name.clone(),
        region: s.row.region.clone(),
        person_sought: s.row.person_sought.clone(),
        next_deadline: s.row.next_deadline.clone().unwrap_or_default(),
        version: s.version,
        updated_at: Some(to_timestamp(s.updated_at)),
    }
}
