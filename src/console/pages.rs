//! The console's handlers: each reads the session, calls the gRPC services as that person and
//! renders a page ([`super::views`]). Refusals come back as the services word them.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use maud::{Markup, html};
use tonic::{Code, Status};

use super::{
    Console, Pairs, form, html, http_status,
    i18n::{self, Lang, t},
    see_other,
    session::{self, Session},
    views::{self, Frame},
    with_status,
};
use crate::{
    domain::{
        Region, Role,
        case::{self, CaseState},
        formal,
        permissions::{CommandKind, allowed_roles},
        preventive,
    },
    pb::{self, cases_server::Cases},
};

pub(super) type Submitted = Form<Vec<(String, String)>>;

/// The signed-in person of a page, or the way to the sign-in page.
pub(super) struct Ctx {
    pub(super) s: Session,
    pub(super) lang: Lang,
    pub(super) csrf: String,
}

impl Console {
    pub(super) fn ctx(&self, headers: &HeaderMap, back: &str) -> Result<Ctx, Box<Response>> {
        let lang = Lang::of(headers);
        match self.session(headers) {
            Ok(s) => {
                let csrf = self.csrf(&s);
                Ok(Ctx { s, lang, csrf })
            }
            Err(why) => {
                let mut to = format!("/sign-in?next={}", encode(back));
                if matches!(why, session::NoSession::Invalid(_)) {
                    to.push_str("&expired=1");
                }
                Err(Box::new(see_other(&to)))
            }
        }
    }

    pub(super) fn page_of(&self, ctx: &Ctx, title: &str, body: Markup) -> Response {
        html(views::layout(
            &Frame {
                lang: ctx.lang,
                session: Some(&ctx.s),
                csrf: &ctx.csrf,
                development: self.development(),
            },
            title,
            body,
        ))
    }

    /// The case as `s` may see it (`GetCase`).
    pub(super) async fn case_view(&self, s: &Session, id: &str) -> Result<pb::CaseView, Status> {
        self.cases
            .get_case(s.request(pb::GetCaseRequest {
                case_id: id.to_owned(),
                ..Default::default()
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    /// A page that says what went wrong, with the HTTP status of the gRPC one.
    pub(super) fn failure(&self, ctx: &Ctx, status: &Status) -> Response {
        if status.code() == Code::Unauthenticated {
            return see_other("/sign-in?expired=1");
        }
        let lang = ctx.lang;
        let body = html! {
            h1 { (t(lang, "could_not")) }
            (views::notice("error", status.message()))
            p { a href="/cases" { (t(lang, "back_to_cases")) } }
        };
        with_status(
            self.page_of(ctx, t(lang, "could_not"), body),
            http_status(status.code()),
        )
    }
}

/// The page for a command or procedure name the API does not have.
pub(super) fn not_a_command(c: &Console, ctx: &Ctx, name: &str) -> Response {
    let lang = ctx.lang;
    let body = html! {
        h1 { (t(lang, "not_found")) }
        (views::notice("error", &format!("{}: {name}", t(lang, "unknown_command"))))
        p { a href="/cases" { (t(lang, "back_to_cases")) } }
    };
    with_status(
        c.page_of(ctx, t(lang, "not_found"), body),
        StatusCode::NOT_FOUND,
    )
}

/// A form that did not come from this session's page (CSRF) or from this site.
pub(super) fn forbidden(c: &Console, ctx: &Ctx) -> Response {
    let lang = ctx.lang;
    let body = html! {
        h1 { (t(lang, "could_not")) }
        (views::notice("error", t(lang, "form_expired")))
        p { a href="/cases" { (t(lang, "back_to_cases")) } }
    };
    with_status(
        c.page_of(ctx, t(lang, "could_not"), body),
        StatusCode::FORBIDDEN,
    )
}

/// The HTTP status of a refused form.
pub(super) fn refused_status(s: &Status) -> StatusCode {
    http_status(s.code())
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn get<'a>(q: &'a [(String, String)], key: &str) -> &'a str {
    q.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.trim())
}

/// Only a path of this server (never another site) as the place to go back to: a `/` not
/// followed by another, and nothing but the characters of a plain path and query (browsers
/// drop tabs and newlines, so `/\t/evil.example` would lead away).
fn local_path(p: &str) -> &str {
    let plain = p.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'/' | b'-' | b'_' | b'.' | b'~' | b'%' | b'?' | b'=' | b'&' | b'#'
            )
    });
    if plain && p.starts_with('/') && !p.starts_with("//") {
        p
    } else {
        "/cases"
    }
}

/// A page without a session (sign-in, not found).
pub(super) fn message_page(
    c: &Console,
    lang: Lang,
    s: Option<&Session>,
    title: &'static str,
    text: &'static str,
) -> Response {
    let csrf = s.map(|s| c.csrf(s)).unwrap_or_default();
    html(views::layout(
        &Frame {
            lang,
            session: s,
            csrf: &csrf,
            development: c.development(),
        },
        t(lang, title),
        html! { h1 { (t(lang, title)) } p { (t(lang, text)) } p { a href="/cases" { (t(lang, "back_to_cases")) } } },
    ))
}

// --- sign-in ---------------------------------------------------------------------------------

pub(super) async fn sign_in_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    q: Pairs,
) -> Response {
    let lang = Lang::of(&headers);
    let error = (get(&q, "expired") == "1").then(|| t(lang, "session_expired").to_owned());
    sign_in_view(&c, lang, local_path(get(&q, "next")), error.as_deref())
}

fn sign_in_view(c: &Console, lang: Lang, next: &str, error: Option<&str>) -> Response {
    let body = html! {
        h1 { (t(lang, "sign_in")) }
        @if let Some(e) = error { (views::notice("error", e)) }
        form.sign-in method="post" action="/sign-in" {
            input type="hidden" name="next" value=(next);
            @if c.development() {
                (views::notice("warn", t(lang, "development_warning")))
                div.field {
                    label for="f-role" { (t(lang, "role")) }
                    select id="f-role" name="role" required {
                        @for r in Role::PEOPLE { option value=(r.as_str()) { (views::role_words(lang, r)) } }
                    }
                }
                div.field {
                    label for="f-subject" { (t(lang, "your_name")) }
                    input id="f-subject" name="subject" required pattern="[A-Za-z0-9_.@-]{1,64}" aria-describedby="f-subject-help";
                    p.help id="f-subject-help" { (t(lang, "subject_help")) }
                }
                div.field {
                    label for="f-region" { (t(lang, "region")) }
                    select id="f-region" name="region" aria-describedby="f-region-help" {
                        option value="" { "—" }
                        @for r in Region::ALL { option value=(r.as_str()) { (r.label()) } }
                    }
                    p.help id="f-region-help" { (t(lang, "region_help")) }
                }
            } @else {
                div.field {
                    label for="f-token" { (t(lang, "token")) }
                    textarea id="f-token" name="token" rows="4" required autocomplete="off" spellcheck="false" autocapitalize="off" aria-describedby="f-token-help" {}
                    p.help id="f-token-help" { (t(lang, "token_help")) }
                }
                div.field {
                    label for="f-role" { (t(lang, "role_if_several")) }
                    select id="f-role" name="role" {
                        option value="" { "—" }
                        @for r in Role::PEOPLE { option value=(r.as_str()) { (views::role_words(lang, r)) } }
                    }
                }
            }
            button type="submit" { (t(lang, "sign_in")) }
        }
    };
    let r = html(views::layout(
        &Frame {
            lang,
            session: None,
            csrf: "",
            development: c.development(),
        },
        t(lang, "sign_in"),
        body,
    ));
    if error.is_some() {
        with_status(r, StatusCode::UNAUTHORIZED)
    } else {
        r
    }
}

pub(super) async fn sign_in(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Form(f): Submitted,
) -> Response {
    let lang = Lang::of(&headers);
    let next = local_path(get(&f, "next")).to_owned();
    if !session::same_origin(&headers) {
        return sign_in_view(&c, lang, &next, Some(t(lang, "other_origin")));
    }
    let role = Role::parse(get(&f, "role")).filter(|r| *r != Role::System);
    let value = if c.development() {
        let subject = get(&f, "subject");
        let (Some(role), true) = (role, session::valid_dev_subject(subject)) else {
            return sign_in_view(&c, lang, &next, Some(t(lang, "dev_sign_in_invalid")));
        };
        let region = Region::ALL
            .into_iter()
            .find(|r| r.as_str() == get(&f, "region"));
        Console::dev_session_value(role, region, subject)
    } else {
        let token = get(&f, "token").trim_start_matches("Bearer ").trim();
        if token.len() > session::MAX_TOKEN {
            return sign_in_view(&c, lang, &next, Some(t(lang, "token_too_long")));
        }
        let value = Console::token_session_value(token, role);
        if let Err(e) = c.read_session(&value) {
            let text = match e {
                session::NoSession::Invalid(w) => format!("{} {w}", t(lang, "token_refused")),
                session::NoSession::SeveralRoles => t(lang, "several_roles").to_owned(),
                session::NoSession::Absent => t(lang, "token_refused").to_owned(),
            };
            return sign_in_view(&c, lang, &next, Some(&text));
        }
        value
    };
    let mut r = see_other(&next);
    r.headers_mut()
        .insert(header::SET_COOKIE, c.set_cookie(&value));
    r
}

pub(super) async fn sign_out(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Form(f): Submitted,
) -> Response {
    if let Ok(s) = c.session(&headers)
        && !c.csrf_ok(&s, &headers, Some(get(&f, "_csrf")))
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut r = see_other("/sign-in");
    r.headers_mut().insert(header::SET_COOKIE, c.set_cookie(""));
    r
}

/// `/lang/{code}`: remembers the language and goes back.
pub(super) async fn set_lang(Path(code): Path<String>, headers: HeaderMap) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::En);
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
        })
        .unwrap_or_else(|| "/cases".to_owned());
    let mut r = see_other(local_path(&back));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        i18n::COOKIE,
        lang.code()
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

// --- cases -----------------------------------------------------------------------------------

/// The filters of the case list, as the query names them (the ListCases fields).
const FILTERS: [&str; 7] = [
    "procedure",
    "state",
    "status",
    "requested_state",
    "region",
    "person_sought",
    "deadline_before",
];

pub(super) async fn cases(State(c): State<Arc<Console>>, headers: HeaderMap, q: Pairs) -> Response {
    let ctx = match c.ctx(&headers, "/cases") {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = ctx.lang;
    // Open cases by default; "all" lists both.
    let status = match get(&q, "status") {
        "" => "open",
        "all" => "",
        s => s,
    };
    let req = pb::ListCasesRequest {
        // Any procedure: the cases, not the rosters (the roster page has those).
        procedure: match get(&q, "procedure") {
            "" => "cases".to_owned(),
            p => p.to_owned(),
        },
        state: get(&q, "state").to_owned(),
        status: status.to_owned(),
        requested_state: get(&q, "requested_state").to_owned(),
        region: get(&q, "region").to_owned(),
        person_sought: get(&q, "person_sought").to_owned(),
        deadline_before: get(&q, "deadline_before").to_owned(),
        page_size: 25,
        page_token: get(&q, "page").to_owned(),
        order_by: "next_deadline".to_owned(),
    };
    let (list, error) = match c.cases.list_cases(ctx.s.request(req)).await {
        Ok(r) => (r.into_inner(), None),
        Err(s) if s.code() == Code::InvalidArgument => (
            pb::ListCasesResponse::default(),
            Some(s.message().to_owned()),
        ),
        Err(s) => return c.failure(&ctx, &s),
    };
    let mut states: Vec<&str> = formal::TRANSITIONS
        .iter()
        .chain(preventive::TRANSITIONS)
        .flat_map(|t| t.targets())
        .collect();
    states.sort_unstable();
    states.dedup();
    let may_open = |k: CommandKind| allowed_roles(k).contains(&ctx.s.role);
    let keep: String = FILTERS
        .iter()
        .filter(|k| !get(&q, k).is_empty())
        .map(|k| format!("&{k}={}", encode(get(&q, k))))
        .collect();
    let body = html! {
        h1 { (t(lang, "cases")) }
        @if may_open(CommandKind::OpenFormalCase) || may_open(CommandKind::OpenPreventiveCase) {
            p.links {
                @if may_open(CommandKind::OpenFormalCase) { a.button href="/cases/new/formal" { (t(lang, "open_formal")) } }
                " "
                @if may_open(CommandKind::OpenPreventiveCase) { a.button href="/cases/new/preventive" { (t(lang, "open_preventive")) } }
            }
        }
        form.filters method="get" action="/cases" role="search" aria-label=(t(lang, "filters")) {
            div.field { label for="q-procedure" { (t(lang, "procedure")) }
                select id="q-procedure" name="procedure" {
                    option value="" { (t(lang, "any")) }
                    option value="formal" selected[get(&q, "procedure") == "formal"] { (t(lang, "procedure_formal")) }
                    option value="preventive" selected[get(&q, "procedure") == "preventive"] { (t(lang, "procedure_preventive")) }
                } }
            div.field { label for="q-state" { (t(lang, "stage")) }
                select id="q-state" name="state" {
                    option value="" { (t(lang, "any")) }
                    @for s in &states { option value=(s) selected[get(&q, "state") == *s] { (views::state_label(lang, s)) } }
                } }
            div.field { label for="q-status" { (t(lang, "open_or_closed")) }
                select id="q-status" name="status" {
                    option value="" selected[get(&q, "status").is_empty()] { (t(lang, "open")) }
                    option value="closed" selected[get(&q, "status") == "closed"] { (t(lang, "closed")) }
                    option value="all" selected[get(&q, "status") == "all"] { (t(lang, "any")) }
                } }
            div.field { label for="q-requested_state" { (t(lang, "requested_state_code")) }
                input id="q-requested_state" name="requested_state" size="4" value=(get(&q, "requested_state")); }
            div.field { label for="q-region" { (t(lang, "region")) }
                select id="q-region" name="region" {
                    option value="" { (t(lang, "any")) }
                    @for r in Region::ALL { option value=(r.as_str()) selected[get(&q, "region") == r.as_str()] { (r.label()) } }
                } }
            div.field { label for="q-person_sought" { (t(lang, "person_sought")) }
                input id="q-person_sought" name="person_sought" value=(get(&q, "person_sought")); }
            div.field { label for="q-deadline_before" { (t(lang, "deadline_before")) }
                input type="date" id="q-deadline_before" name="deadline_before" value=(get(&q, "deadline_before")); }
            button type="submit" { (t(lang, "filter")) }
        }
        @if let Some(e) = &error { (views::notice("error", e)) }
        @if list.cases.is_empty() {
            p { (t(lang, "no_cases")) }
        } @else {
            table.cases {
                caption { (t(lang, "cases_by_deadline")) }
                thead { tr {
                    th scope="col" { (t(lang, "reference")) }
                    th scope="col" { (t(lang, "procedure")) }
                    th scope="col" { (t(lang, "stage")) }
                    th scope="col" { (t(lang, "requested_state")) }
                    th scope="col" { (t(lang, "person_sought")) }
                    th scope="col" { (t(lang, "next_deadline")) }
                    th scope="col" { (t(lang, "updated")) }
                } }
                tbody { @for s in &list.cases { tr {
                    td { a href=(format!("/cases/{}", s.case_id)) { (s.reference) } }
                    td { (t(lang, if s.procedure == "formal" { "procedure_formal" } else { "procedure_preventive" })) }
                    td { (views::state_label(lang, &s.state)) @if s.closed { " (" (t(lang, "closed")) ")" } }
                    td { (s.requested_state_name) " (" (s.requested_state) ")" }
                    td { (s.person_sought) }
                    td { @if s.next_deadline.is_empty() { "—" } @else { (s.next_deadline) } }
                    td { (views::ts(s.updated_at.as_ref(), None)) }
                } } }
            }
        }
        @if !list.next_page_token.is_empty() {
            p.links { a rel="next" href=(format!("/cases?page={}{keep}", encode(&list.next_page_token))) { (t(lang, "next_page")) } }
        }
    };
    c.page_of(&ctx, t(lang, "cases"), body)
}

/// The case page.
pub(super) async fn case_page(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Pairs,
) -> Response {
    let ctx = match c.ctx(&headers, &format!("/cases/{id}")) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let lang = ctx.lang;
    let view = match c.case_view(&ctx.s, &id).await {
        Ok(v) => v,
        Err(s) => return c.failure(&ctx, &s),
    };
    let table = match view.procedure.as_str() {
        "preventive" => preventive::TRANSITIONS,
        _ => formal::TRANSITIONS,
    };
    let seat = seat_zone(&view);
    let available = match c
        .cases
        .available_actions(ctx.s.request(pb::AvailableActionsRequest {
            case_id: view.case_id.clone(),
        }))
        .await
    {
        Ok(a) => a.into_inner().actions,
        Err(s) => return c.failure(&ctx, &s),
    };
    let timeline = match history(&c, &ctx.s, &view.case_id, &seat).await {
        Ok(t) => t,
        Err(s) => return c.failure(&ctx, &s),
    };
    let now = c.engine.clock().now();
    let deadlines: Vec<views::DeadlineRow> = view
        .deadlines
        .iter()
        .map(|d| {
            let zone = if d.time_zone.is_empty() {
                seat.clone()
            } else {
                d.time_zone.clone()
            };
            let today = crate::domain::calendar::local_date(now, &zone);
            views::DeadlineRow {
                what: deadline_words(lang, &d.kind),
                due: d.due.clone(),
                ends: views::ts(d.ends_at.as_ref(), None),
                days_left: views::days_left(&d.due, today),
                zone,
            }
        })
        .collect();
    let actions = actions_of(ctx.s.role, &view, table, &available, now);
    // Only a command's name (from the form just sent) is announced.
    let flash = match get(&q, "done") {
        cmd if CommandKind::ALL.iter().any(|k| k.as_str() == cmd) => Some(format!(
            "{} {}",
            t(lang, "recorded"),
            views::command_label(lang, cmd)
        )),
        _ => None,
    };
    let title = format!("{} — {}", view.reference, t(lang, "case"));
    let body = views::case_page(
        lang,
        &view,
        &seat,
        table,
        &deadlines,
        &actions,
        &timeline,
        flash.as_deref(),
    );
    c.page_of(&ctx, &title, body)
}

/// The zone the case's rules date acts in.
pub(super) fn seat_zone(view: &pb::CaseView) -> String {
    serde_json::from_str::<serde_json::Value>(&view.state_json)
        .ok()
        .and_then(|v| v["rules"]["seat_time_zone"].as_str().map(str::to_owned))
        .unwrap_or_else(|| crate::domain::calendar::SEAT.to_owned())
}

fn deadline_words(lang: Lang, kind: &str) -> String {
    i18n::lookup(lang, &format!("deadline.{kind}"))
        .map_or_else(|| form::humanize(kind), str::to_owned)
}

/// Who acts next: the caller's own commands, the roles that may issue the others now (the
/// domain's answer for every role, as `aspflow case show` gives it), and why the rest not.
fn actions_of(
    role: Role,
    view: &pb::CaseView,
    table: &[crate::domain::table::Transition],
    available: &[pb::ActionAvailability],
    now: chrono::DateTime<chrono::Utc>,
) -> views::Actions {
    let yours: Vec<String> = available
        .iter()
        .filter(|a| a.allowed)
        .map(|a| a.command.clone())
        .collect();
    let region = view
        .requested_state
        .as_ref()
        .and_then(|s| Region::ALL.into_iter().find(|r| r.as_str() == s.region));
    let state = CaseState::from_view(&view.procedure, &view.state_json);
    let by_permission_only = state.is_none() || region.is_none();
    let others: Vec<(String, Vec<Role>)> = match (state, region) {
        (Some(state), Some(region)) => case::who_may_act(&state, region, now)
            .into_iter()
            .map(|(k, roles)| (k.as_str().to_owned(), roles))
            .filter(|(k, _)| !yours.contains(k))
            .collect(),
        // The state is withheld from this caller: say who may from the permissions alone.
        _ => available
            .iter()
            .filter(|a| {
                matches!(
                    a.reason_code.as_str(),
                    "NotPermitted" | "FocalPointRegionMismatch"
                )
            })
            .filter_map(|a| {
                CommandKind::ALL
                    .iter()
                    .find(|k| k.as_str() == a.command)
                    .map(|k| (a.command.clone(), allowed_roles(*k).to_vec()))
            })
            .collect(),
    };
    let not_now = available
        .iter()
        .filter(|a| !a.allowed && !others.iter().any(|(k, _)| *k == a.command))
        .map(|a| (a.command.clone(), a.reason.clone()))
        .collect();
    // The commands that move the case on from here first; those that only record (the rows
    // that keep the state) apart.
    let moves = |command: &str| {
        table.iter().any(|t| {
            t.command.as_str() == command
                && t.from.contains(&view.state.as_str())
                && !t.to.starts_with("(unchanged)")
        })
    };
    let (others, others_any_time) = if by_permission_only {
        (others, Vec::new())
    } else {
        others.into_iter().partition(|(k, _)| moves(k))
    };
    views::Actions {
        yours,
        others,
        others_any_time,
        not_now,
        by_permission_only,
        may_audit: crate::api::access::allowed("/aspflow.v1.Audit/VerifyCase")
            .unwrap_or_default()
            .contains(&role),
    }
}

/// The case's events as the caller may see them, in order, with their acts' facts.
async fn history(
    c: &Console,
    s: &Session,
    case_id: &str,
    seat: &str,
) -> Result<Vec<views::TimelineRow>, Status> {
    let mut rows = Vec::new();
    let mut from = 1;
    loop {
        let page = c
            .cases
            .get_history(s.request(pb::GetHistoryRequest {
                case_id: case_id.to_owned(),
                from_version: from,
                limit: 1000,
            }))
            .await?
            .into_inner();
        for e in page.events {
            rows.push(timeline_row(e, seat));
        }
        if page.next_from_version == 0 || page.next_from_version <= from {
            break;
        }
        from = page.next_from_version;
    }
    Ok(rows)
}

fn timeline_row(e: pb::RecordedEvent, seat: &str) -> views::TimelineRow {
    let payload: serde_json::Value = serde_json::from_str(&e.payload_json).unwrap_or_default();
    let meta = &payload["meta"];
    let list = |key: &str, f: &dyn Fn(&serde_json::Value) -> String| -> Vec<String> {
        meta[key]
            .as_array()
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default()
    };
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    views::TimelineRow {
        zone: meta["time_zone"].as_str().unwrap_or(seat).to_owned(),
        legal: list("legal_basis", &|v| {
            format!("{}, {}", text(v, "instrument"), text(v, "provision"))
        }),
        documents: list("documents", &|v| {
            let date = text(v, "date");
            if date.is_empty() {
                text(v, "symbol")
            } else {
                format!("{} ({date})", text(v, "symbol"))
            }
        }),
        confidential: meta["confidentiality"].as_str() == Some("confidential"),
        note: meta["note"].as_str().map(str::to_owned),
        event: e,
    }
}
