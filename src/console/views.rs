//! The console's HTML, with maud (compiled templates): the layout and each page's body. The
//! handlers in `pages.rs` fetch from the services and call these; nothing here calls a service.

use chrono::{DateTime, NaiveDate, Utc};
use maud::{DOCTYPE, Markup, html};

use super::{
    diagram,
    form::humanize,
    i18n::{Lang, t},
    session::Session,
};
use crate::{domain::Role, pb};

/// What every page's header needs.
pub struct Frame<'a> {
    /// The language.
    pub lang: Lang,
    /// Who is signed in.
    pub session: Option<&'a Session>,
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Development mode (anyone may pick a role).
    pub development: bool,
}

/// The page around `body`.
pub fn layout(f: &Frame<'_>, title: &str, body: Markup) -> Markup {
    let lang = f.lang;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · aspflow" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { (t(lang, "skip_to_content")) }
                header.top {
                    nav aria-label=(t(lang, "main_menu")) {
                        a.brand href="/cases" { "aspflow" }
                        @if f.session.is_some() {
                            a href="/cases" { (t(lang, "cases")) }
                            a href="/roster" { (t(lang, "roster")) }
                        }
                    }
                    div.who {
                        @if f.development {
                            span.dev-badge { (t(lang, "development_mode")) }
                        }
                        @if let Some(s) = f.session {
                            span { (t(lang, "signed_in_as")) " " strong { (s.subject) } " (" (role_words(lang, s.role)) ")" }
                            form method="post" action="/sign-out" {
                                input type="hidden" name="_csrf" value=(f.csrf);
                                button type="submit" { (t(lang, "sign_out")) }
                            }
                        }
                        nav.lang aria-label=(t(lang, "language")) {
                            a href="/lang/en" lang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" }
                            a href="/lang/fr" lang="fr" aria-current=[(lang == Lang::Fr).then_some("true")] { "Français" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
                footer { "aspflow " (env!("CARGO_PKG_VERSION")) " · " (t(lang, "footer_times")) }
            }
        }
    }
}

/// A role in words.
pub fn role_words(lang: Lang, role: Role) -> String {
    let key = format!("role.{}", role.as_str());
    super::i18n::lookup(lang, &key).map_or_else(|| role.as_str().to_owned(), str::to_owned)
}

/// A state in words (the catalogue's, else from its name).
pub fn state_label(lang: Lang, state: &str) -> String {
    super::i18n::lookup(lang, &format!("state.{state}"))
        .map_or_else(|| diagram::state_words(state), str::to_owned)
}

/// A command in words.
pub fn command_label(lang: Lang, command: &str) -> String {
    super::i18n::lookup(lang, &format!("command.{command}"))
        .map_or_else(|| humanize(command), str::to_owned)
}

/// An instant in one format everywhere: `2018-01-12 20:30 UTC`, or in a named zone
/// `2018-01-12 21:30 Europe/Amsterdam`.
pub fn instant(at: DateTime<Utc>, zone: Option<&str>) -> String {
    match zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) if tz != chrono_tz::UTC && tz != chrono_tz::Etc::UTC => format!(
            "{} {}",
            at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            tz.name()
        ),
        _ => crate::cli::time_text(at),
    }
}

/// A protobuf timestamp as [`instant`] (empty when unset).
pub fn ts(at: Option<&prost_types::Timestamp>, zone: Option<&str>) -> String {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map(|t| instant(t, zone))
        .unwrap_or_default()
}

/// A message box: `alert` for errors, `status` for news.
pub fn notice(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { div class=(format!("notice {kind}")) role=(role) { (text) } }
}

/// One row of the timeline, as the case page shows it.
pub struct TimelineRow {
    /// The event.
    pub event: pb::RecordedEvent,
    /// Its act's zone (the act's own, else the case's seat).
    pub zone: String,
    /// Legal bases, in words.
    pub legal: Vec<String>,
    /// Documents (symbol, date).
    pub documents: Vec<String>,
    /// Confidential.
    pub confidential: bool,
    /// The note, when one was recorded.
    pub note: Option<String>,
}

/// Who may do what now, for the case page.
pub struct Actions {
    /// Commands the caller may issue now.
    pub yours: Vec<String>,
    /// Commands others may issue now that move the case on, with their roles.
    pub others: Vec<(String, Vec<Role>)>,
    /// Commands others may issue now that record without moving the case (consultations,
    /// withdrawals, rules), with their roles.
    pub others_any_time: Vec<(String, Vec<Role>)>,
    /// Commands not possible at this stage for the caller: name and reason.
    pub not_now: Vec<(String, String)>,
    /// The state is withheld from the caller: `others` are the commands reserved to other
    /// roles, whatever the stage.
    pub by_permission_only: bool,
    /// The caller may verify and export the case (the API's access table says so).
    pub may_audit: bool,
}

/// A deadline as the case page shows it.
pub struct DeadlineRow {
    /// The kind's words.
    pub what: String,
    /// The due day.
    pub due: String,
    /// The zone whose calendar it is.
    pub zone: String,
    /// The instant it ends.
    pub ends: String,
    /// Days left (negative: overdue).
    pub days_left: Option<i64>,
}

/// Days from `today` to `due`.
pub fn days_left(due: &str, today: NaiveDate) -> Option<i64> {
    let due = NaiveDate::parse_from_str(due, "%Y-%m-%d").ok()?;
    Some((due - today).num_days())
}

fn days_text(lang: Lang, n: Option<i64>) -> String {
    match n {
        None => String::new(),
        Some(0) => t(lang, "due_today").to_owned(),
        Some(1) => format!("1 {}", t(lang, "day_left")),
        Some(-1) => format!("1 {}", t(lang, "day_overdue")),
        Some(n) if n > 0 => format!("{n} {}", t(lang, "days_left")),
        Some(n) => format!("{} {}", -n, t(lang, "days_overdue")),
    }
}

// --- case page ---

/// The case page's body.
#[allow(clippy::too_many_arguments)] // one page, its parts
pub fn case_page(
    lang: Lang,
    c: &pb::CaseView,
    seat: &str,
    table: &[crate::domain::table::Transition],
    deadlines: &[DeadlineRow],
    actions: &Actions,
    timeline: &[TimelineRow],
    flash: Option<&str>,
) -> Markup {
    let st = c.requested_state.clone().unwrap_or_default();
    let region_words = crate::domain::Region::ALL
        .into_iter()
        .find(|r| r.as_str() == st.region)
        .map_or(st.region.clone(), |r| r.label().to_owned());
    let next = diagram::next_states(table, &c.state);
    html! {
        div data-live=(format!("/cases/{}/live?from={}", c.case_id, c.version)) {}
        h1 { (c.reference) " — " (st.name) }
        @if let Some(f) = flash { (notice("ok", f)) }
        div id="case-status" data-refresh {
            dl.facts {
                dt { (t(lang, "procedure")) } dd { (t(lang, if c.procedure == "formal" { "procedure_formal" } else { "procedure_preventive" })) }
                dt { (t(lang, "stage")) } dd.stage { (state_label(lang, &c.state)) @if c.closed { " (" (t(lang, "closed")) ")" } }
                dt { (t(lang, if c.procedure == "preventive" { "host_state" } else { "requested_state" })) } dd { (st.name) " (" (st.iso_code) ")" }
                dt { (t(lang, "region")) } dd { (region_words) }
                dt { (t(lang, "person_sought")) } dd { (c.person_sought) }
                dt { (t(lang, "version")) } dd { (c.version) }
                dt { (t(lang, "last_act")) } dd { (ts(c.last_occurred_at.as_ref(), Some(seat))) }
                @if !c.linked_case_id.is_empty() {
                    dt { (t(lang, "linked_case")) } dd { a href=(format!("/cases/{}", c.linked_case_id)) { (c.linked_case_id) } }
                }
            }
            section aria-labelledby="h-deadlines" {
                h2 id="h-deadlines" { (t(lang, "deadlines")) }
                @if deadlines.is_empty() {
                    p { (t(lang, "no_deadlines")) }
                } @else {
                    table.deadlines {
                        thead { tr {
                            th scope="col" { (t(lang, "deadline")) }
                            th scope="col" { (t(lang, "due_on")) }
                            th scope="col" { (t(lang, "time_zone")) }
                            th scope="col" { (t(lang, "ends_at")) }
                            th scope="col" { (t(lang, "time_left")) }
                        } }
                        tbody { @for d in deadlines { tr {
                            td { (d.what) } td { (d.due) } td { (d.zone) } td { (d.ends) }
                            td class=(if d.days_left.is_some_and(|n| n < 0) { "overdue" } else { "" }) { (days_text(lang, d.days_left)) }
                        } } }
                    }
                }
            }
            section aria-labelledby="h-next" {
                h2 id="h-next" { (t(lang, "who_acts_next")) }
                @if actions.yours.is_empty() && actions.others.is_empty() {
                    p { (t(lang, "nobody_acts")) }
                }
                @if !actions.yours.is_empty() {
                    p { (t(lang, "you_may_now")) }
                    ul.actions { @for a in &actions.yours {
                        li { a.button href=(format!("/cases/{}/act/{a}", c.case_id)) { (command_label(lang, a)) } }
                    } }
                }
                @if !actions.others.is_empty() {
                    p { (t(lang, if actions.by_permission_only { "reserved_to" } else { "others_may" })) }
                    ul.others { @for (a, roles) in &actions.others {
                        li { (command_label(lang, a)) " — " (roles.iter().map(|r| role_words(lang, *r)).collect::<Vec<_>>().join(", ")) }
                    } }
                }
                @if !actions.others_any_time.is_empty() {
                    details {
                        summary { (t(lang, "also_possible")) " (" (actions.others_any_time.len()) ")" }
                        ul.others { @for (a, roles) in &actions.others_any_time {
                            li { (command_label(lang, a)) " — " (roles.iter().map(|r| role_words(lang, *r)).collect::<Vec<_>>().join(", ")) }
                        } }
                    }
                }
                @if !actions.not_now.is_empty() {
                    details {
                        summary { (t(lang, "not_possible_now")) " (" (actions.not_now.len()) ")" }
                        ul.not-now { @for (a, why) in &actions.not_now {
                            li { strong { (command_label(lang, a)) } ": " (why) }
                        } }
                    }
                }
            }
        }
        section aria-labelledby="h-diagram" {
            h2 id="h-diagram" { (t(lang, "where_it_stands")) }
            div id="case-diagram" data-refresh {
                div.diagram-wrap tabindex="0" role="region" aria-label=(t(lang, "diagram_label")) {
                    (diagram::svg(table, &c.state, &format!("{}: {}", t(lang, "current_stage"), state_label(lang, &c.state)), &|s| state_label(lang, s)))
                }
                p {
                    (t(lang, "current_stage")) ": " strong { (state_label(lang, &c.state)) }
                    @if !next.is_empty() {
                        ". " (t(lang, "next_stages")) ": "
                        (next.iter().map(|s| state_label(lang, s)).collect::<Vec<_>>().join(", "))
                    }
                }
            }
        }
        section aria-labelledby="h-timeline" {
            h2 id="h-timeline" { (t(lang, "timeline")) }
            @if actions.may_audit {
                p.links {
                    a href=(format!("/cases/{}/audit", c.case_id)) { (t(lang, "audit_this_case")) }
                }
            }
            div.visually-hidden id="live-news" role="status" data-news=(t(lang, "new_act_recorded")) {}
            ol id="timeline" {
                @for r in timeline { (timeline_row(lang, r)) }
            }
        }
    }
}

/// An event type in words: `formal.open_letter_sent` → "Open letter sent".
pub fn event_label(lang: Lang, event_type: &str) -> String {
    let name = event_type.rsplit('.').next().unwrap_or(event_type);
    super::i18n::lookup(lang, &format!("event.{name}"))
        .map_or_else(|| humanize(name), str::to_owned)
}

fn timeline_row(lang: Lang, r: &TimelineRow) -> Markup {
    let e = &r.event;
    html! {
        li.event id=(format!("v{}", e.version)) {
            h3 { span.version { "#" (e.version) } " " (event_label(lang, &e.event_type))
                @if r.confidential || e.redacted { " " span.badge { (t(lang, "confidential")) } }
            }
            dl.event-facts {
                dt { (t(lang, "legal_time")) } dd { (ts(e.occurred_at.as_ref(), Some(&r.zone))) }
                dt { (t(lang, "recorded_time")) } dd { (ts(e.recorded_at.as_ref(), None)) }
                dt { (t(lang, "actor")) } dd { (e.actor) " (" (Role::parse(&e.role).map_or(e.role.clone(), |ro| role_words(lang, ro))) ")" }
                @if e.redacted {
                    dt { (t(lang, "content")) } dd { (t(lang, "withheld")) }
                }
                @if !r.legal.is_empty() {
                    dt { (t(lang, "legal_basis")) } dd { (r.legal.join("; ")) }
                }
                @if !r.documents.is_empty() {
                    dt { (t(lang, "documents")) } dd { (r.documents.join("; ")) }
                }
                @if let Some(n) = &r.note {
                    dt { (t(lang, "note")) } dd { (n) }
                }
            }
        }
    }
}

// --- end of case page ---
