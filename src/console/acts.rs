//! Acting on a case: the form of one command, generated from its proto message and the act's
//! (`Act`), and opening a case. Submitted forms become the same requests an integrator sends;
//! a refusal comes back next to the field it concerns, with the rule's name.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{
    Console, form,
    form::Filled,
    i18n::{Lang, t},
    pages::{self, Ctx, Submitted},
    see_other, views, with_status,
};
use crate::pb::{self, cases_server::Cases};

/// A command field holding procedure rules (amending them) starts from the case's rules, so
/// that what the person does not change stays as it is: the rules are sent whole.
fn prefill_rules(msg: &MessageDescriptor, view: &pb::CaseView, filled: &mut Filled) {
    let Ok(state) = serde_json::from_str::<serde_json::Value>(&view.state_json) else {
        return;
    };
    let Some(rules) = state["rules"].as_object() else {
        return;
    };
    for f in msg.fields() {
        let Kind::Message(m) = f.kind() else { continue };
        if m.full_name() != "aspflow.v1.ProcedureRules" {
            continue;
        }
        // The stored rules nest the extensions; the message has them at its top.
        let flat = rules
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v.as_object()) {
                ("extensions", Some(ext)) => ext.iter().collect::<Vec<_>>(),
                _ => vec![(k, v)],
            });
        for (k, v) in flat {
            let text = match v {
                serde_json::Value::Bool(true) => "true".to_owned(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => continue,
            };
            filled
                .values
                .insert(format!("cmd.{}.{k}", f.name()), vec![text]);
        }
    }
}

/// A refused form's title says so first (what a screen reader announces on arrival).
fn refused_title(lang: Lang, refused: bool, title: String) -> String {
    if refused {
        format!("{}: {title}", t(lang, "refused_title"))
    } else {
        title
    }
}

/// The refusal at the top of a form, focused when the page loads (console.js), with a link
/// to each field in error.
fn error_summary(lang: Lang, error: Option<&str>, filled: &Filled) -> Markup {
    if error.is_none() && filled.errors.is_empty() {
        return html! {};
    }
    html! {
        div.notice.error id="error-summary" role="alert" tabindex="-1" {
            p { (error.unwrap_or(t(lang, "see_fields"))) }
            @if !filled.errors.is_empty() {
                ul { @for name in filled.errors.keys() {
                    li { a href=(format!("#f-{}", name.replace('.', "-"))) {
                        (form::label(lang, name.rsplit('.').next().unwrap_or(name)))
                    } }
                } }
            }
        }
    }
}

/// The zone the rules in force date new cases' acts in.
async fn seat_in_force(c: &Console, s: &super::Session) -> String {
    use crate::pb::roster_server::Roster;
    c.roster
        .get_rules_in_force(s.request(pb::GetRulesInForceRequest::default()))
        .await
        .ok()
        .and_then(|r| r.into_inner().rules)
        .map(|r| r.seat_time_zone)
        .filter(|z| !z.is_empty())
        .unwrap_or_else(|| crate::domain::calendar::SEAT.to_owned())
}

/// The fields of `Act` a person fills in (all of them).
const ACT: &str = "aspflow.v1.Act";

impl Console {
    /// A submitted form: its session (or the way to sign in) and its fields, refused unless
    /// it carries the session's CSRF token and comes from this site.
    fn posted(
        &self,
        headers: &HeaderMap,
        back: &str,
        pairs: &[(String, String)],
    ) -> Result<(Ctx, Filled), Box<Response>> {
        let ctx = self.ctx(headers, back)?;
        let filled = Filled::from_pairs(pairs);
        if !self.csrf_ok(&ctx.s, headers, Some(filled.one("_csrf"))) {
            return Err(Box::new(pages::forbidden(self, &ctx)));
        }
        Ok((ctx, filled))
    }

    fn message(&self, name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(name)
    }

    /// The command's message, if `command` is one of `ExecuteRequest.command`.
    fn command_message(&self, command: &str) -> Option<MessageDescriptor> {
        let exec = self.message("aspflow.v1.ExecuteRequest")?;
        let f = exec.get_field_by_name(command)?;
        f.containing_oneof()?;
        match f.kind() {
            Kind::Message(m) => Some(m),
            _ => None,
        }
    }
}

/// A refusal in words with its rule, for the top of the form; and next to the field it
/// concerns: the field a `BadRequest` names, or the act's legal time for the legal-time rules.
/// `command` is the command's name and `msg` its message (its fields are `cmd.…` in the form);
/// empty and `None` when opening a case.
fn place_error(
    c: &Console,
    lang: Lang,
    status: &Status,
    filled: &mut Filled,
    command: &str,
    msg: Option<&MessageDescriptor>,
) -> String {
    let details = status.get_error_details();
    let rule = details
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default();
    let text = if rule.is_empty() {
        status.message().to_owned()
    } else {
        format!("{} ({}: {rule})", status.message(), t(lang, "rule"))
    };
    let field = match details
        .bad_request()
        .and_then(|b| b.field_violations.first())
    {
        Some(v) => Some(form_field(c, &v.field, command, msg)),
        None if rule.starts_with("LegalTime") || rule == "ReplyWindowStillOpen" => {
            Some("act.occurred_at".to_owned())
        }
        None => None,
    };
    if let Some(f) = field {
        filled.errors.insert(f, text.clone());
    }
    text
}

/// The form's name of a field the services name by its path in the request
/// (`act.documents[0].symbol`, `send_open_letter.letter_ref`) or, for the domain's own
/// checks, by its name alone (`occurred_at`, `letter_ref`).
fn form_field(c: &Console, path: &str, command: &str, msg: Option<&MessageDescriptor>) -> String {
    let mut path = path.replace('[', ".").replace(']', "");
    // An item of a repeated text field (`referral.targets[1]`; a group's error names its
    // field, `act.documents[0].symbol`): the field itself.
    if let Some((head, last)) = path.rsplit_once('.')
        && last.parse::<usize>().is_ok()
    {
        path = head.to_owned();
    }
    if !command.is_empty()
        && let Some(rest) = path.strip_prefix(&format!("{command}."))
    {
        return format!("cmd.{rest}");
    }
    let first = path.split('.').next().unwrap_or_default();
    let has =
        |m: Option<&MessageDescriptor>| m.is_some_and(|m| m.get_field_by_name(first).is_some());
    if first != "act" && has(c.message(ACT).as_ref()) {
        format!("act.{path}")
    } else if has(msg) && !command.is_empty() {
        format!("cmd.{path}")
    } else {
        path
    }
}

fn act_section(c: &Console, lang: Lang, filled: &Filled, zone: &str) -> Markup {
    let Some(act) = c.message(ACT) else {
        return html! {};
    };
    html! {
        fieldset.group.act {
            legend { (t(lang, "the_act")) }
            p.help { (t(lang, "act_help")) " " strong { (zone) } "." }
            (form::fields(&c.pool, lang, &act, "act.", filled, &[]))
        }
    }
}

/// The zone a form's date-times are read in: the one typed, else the case's seat.
fn zone_of(filled: &Filled, seat: &str) -> Result<chrono_tz::Tz, String> {
    let typed = filled.one("act.time_zone");
    let name = if typed.is_empty() { seat } else { typed };
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| format!("an IANA time zone such as Europe/Amsterdam, got {name:?}"))
}

/// The request the form describes, as the services receive it.
fn request_json(
    c: &Console,
    msg: &MessageDescriptor,
    prefix: &str,
    filled: &Filled,
    zone: chrono_tz::Tz,
    skip: &[&str],
) -> Result<
    (
        serde_json::Map<String, serde_json::Value>,
        serde_json::Value,
    ),
    (String, String),
> {
    let act_desc = c
        .message(ACT)
        .ok_or_else(|| (String::new(), "the API descriptors".to_owned()))?;
    let mut act = form::to_json(&act_desc, "act.", filled, zone, &[])?;
    // The zone the times were typed in is the act's, recorded with it.
    act.entry("time_zone")
        .or_insert_with(|| serde_json::Value::String(zone.name().to_owned()));
    let body = form::to_json(msg, prefix, filled, zone, skip)?;
    Ok((body, serde_json::Value::Object(act)))
}

fn decode<T: prost::Message + Default>(
    c: &Console,
    name: &str,
    json: serde_json::Value,
) -> Result<T, String> {
    let desc = c
        .message(name)
        .ok_or_else(|| format!("no message {name}"))?;
    let msg = DynamicMessage::deserialize(desc, json).map_err(|e| e.to_string())?;
    msg.transcode_to::<T>().map_err(|e| e.to_string())
}

// --- a command on a case -----------------------------------------------------------------------

pub(super) async fn act_form(
    State(c): State<Arc<Console>>,
    Path((id, command)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let ctx = match c.ctx(&headers, &format!("/cases/{id}/act/{command}")) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let filled = Filled::with_new_request_id();
    render_act(&c, &ctx, &id, &command, filled, None, StatusCode::OK).await
}

async fn render_act(
    c: &Console,
    ctx: &Ctx,
    id: &str,
    command: &str,
    filled: Filled,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = ctx.lang;
    let Some(msg) = c.command_message(command) else {
        return pages::not_a_command(c, ctx, command);
    };
    let view = match c.case_view(&ctx.s, id).await {
        Ok(v) => v,
        Err(s) => return c.failure(ctx, &s),
    };
    let available = c
        .cases
        .available_actions(ctx.s.request(pb::AvailableActionsRequest {
            case_id: view.case_id.clone(),
        }))
        .await
        .map(|r| r.into_inner().actions)
        .unwrap_or_default();
    let this = available.iter().find(|a| a.command == command);
    let seat = pages::seat_zone(&view);
    let mut filled = filled;
    if status == StatusCode::OK {
        prefill_rules(&msg, &view, &mut filled);
    }
    let label = views::command_label(lang, command);
    let title = refused_title(
        lang,
        error.is_some() || !filled.errors.is_empty(),
        format!("{label} — {}", view.reference),
    );
    let version = if filled.one("expected_version").is_empty() {
        view.version.to_string()
    } else {
        filled.one("expected_version").to_owned()
    };
    let body = html! {
        p.crumbs { a href=(format!("/cases/{}", view.case_id)) { (view.reference) } " › " (label) }
        h1 { (label) }
        p.help { (form::message_comment(&c.pool, &msg).replace('\n', " ")) }
        p { (t(lang, "stage")) ": " strong { (views::state_label(lang, &view.state)) } }
        (error_summary(lang, error.as_deref(), &filled))
        @match this {
            Some(a) if !a.allowed => {
                (views::notice("warn", &format!("{} {}", t(lang, "not_open_to_you"), a.reason)))
                p { a href=(format!("/cases/{}", view.case_id)) { (t(lang, "back_to_case")) } }
            }
            None => {
                (views::notice("warn", t(lang, "not_on_this_case")))
            }
            Some(_) => {
                form.act method="post" action=(format!("/cases/{}/act/{command}", view.case_id)) novalidate[false] {
                    input type="hidden" name="_csrf" value=(ctx.csrf);
                    input type="hidden" name="request_id" value=(filled.one("request_id"));
                    input type="hidden" name="expected_version" value=(version);
                    (act_section(c, lang, &filled, &seat))
                    @if msg.fields().len() > 0 {
                        fieldset.group {
                            legend { (label) }
                            (form::fields(&c.pool, lang, &msg, "cmd.", &filled, &[]))
                        }
                    }
                    p.required-note { span.required aria-hidden="true" { "*" } " " (t(lang, "required_fields")) }
                    button type="submit" { (t(lang, "record")) " — " (label) }
                }
            }
        }
    };
    with_status(c.page_of(ctx, &title, body), status)
}

pub(super) async fn act(
    State(c): State<Arc<Console>>,
    Path((id, command)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Form(pairs): Submitted,
) -> Response {
    let (ctx, mut filled) = match c.posted(&headers, &format!("/cases/{id}/act/{command}"), &pairs)
    {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(msg) = c.command_message(&command) else {
        return pages::not_a_command(&c, &ctx, &command);
    };
    let seat = match c.case_view(&ctx.s, &id).await {
        Ok(v) => pages::seat_zone(&v),
        Err(s) => return c.failure(&ctx, &s),
    };
    // The form itself unreadable (a zone or a value it cannot turn into the request): next
    // to the field, before anything is sent.
    let built = zone_of(&filled, &seat)
        .map_err(|e| ("act.time_zone".to_owned(), e))
        .and_then(|zone| request_json(&c, &msg, "cmd.", &filled, zone, &[]));
    let (body, act) = match built {
        Ok(x) => x,
        Err((field, expected)) => {
            filled.errors.insert(field, format!("expected {expected}"));
            return render_act(
                &c,
                &ctx,
                &id,
                &command,
                filled,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let mut json = serde_json::json!({
        "case_id": id,
        "request_id": filled.one("request_id"),
        "act": act,
        command.clone(): body,
    });
    if let Ok(v) = filled.one("expected_version").parse::<u64>() {
        json["expected_version"] = v.into();
    }
    let req: pb::ExecuteRequest = match decode(&c, "aspflow.v1.ExecuteRequest", json) {
        Ok(r) => r,
        Err(e) => {
            let error = Some(format!("{}: {e}", t(ctx.lang, "form_unreadable")));
            return render_act(
                &c,
                &ctx,
                &id,
                &command,
                filled,
                error,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match c.cases.execute(ctx.s.request(req)).await {
        Ok(r) => {
            let case = r.into_inner().case.map(|v| v.case_id).unwrap_or(id);
            see_other(&format!("/cases/{case}?done={command}#timeline"))
        }
        Err(s)
            if matches!(
                s.code(),
                Code::InvalidArgument
                    | Code::FailedPrecondition
                    | Code::PermissionDenied
                    | Code::Aborted
                    | Code::AlreadyExists
            ) =>
        {
            let error = if s.code() == Code::Aborted {
                // The case moved on while the form was open: offer the form again on the new
                // version, with a new request id.
                filled.values.remove("expected_version");
                filled
                    .values
                    .insert("request_id".into(), vec![uuid::Uuid::now_v7().to_string()]);
                Some(format!("{} {}", t(ctx.lang, "case_changed"), s.message()))
            } else {
                Some(place_error(
                    &c,
                    ctx.lang,
                    &s,
                    &mut filled,
                    &command,
                    Some(&msg),
                ))
            };
            render_act(
                &c,
                &ctx,
                &id,
                &command,
                filled,
                error,
                pages::refused_status(&s),
            )
            .await
        }
        Err(s) => c.failure(&ctx, &s),
    }
}

// --- opening a case ----------------------------------------------------------------------------

fn open_message(procedure: &str) -> Option<&'static str> {
    match procedure {
        "formal" => Some("aspflow.v1.OpenFormalCaseRequest"),
        "preventive" => Some("aspflow.v1.OpenPreventiveCaseRequest"),
        _ => None,
    }
}

/// Fields of the opening requests the console does not ask for: the request id is its own,
/// the act has its own section, and rules are the Bureau's (refused on opening).
const OPEN_SKIP: [&str; 3] = ["request_id", "act", "rules"];

pub(super) async fn open_form(
    State(c): State<Arc<Console>>,
    Path(procedure): Path<String>,
    headers: HeaderMap,
) -> Response {
    let ctx = match c.ctx(&headers, &format!("/cases/new/{procedure}")) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let filled = Filled::with_new_request_id();
    let seat = seat_in_force(&c, &ctx.s).await;
    render_open(&c, &ctx, &procedure, &seat, &filled, None, StatusCode::OK)
}

fn render_open(
    c: &Console,
    ctx: &Ctx,
    procedure: &str,
    seat: &str,
    filled: &Filled,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = ctx.lang;
    let Some(msg) = open_message(procedure).and_then(|m| c.message(m)) else {
        return pages::not_a_command(c, ctx, procedure);
    };
    let heading = t(
        lang,
        if procedure == "formal" {
            "open_formal"
        } else {
            "open_preventive"
        },
    );
    let title = refused_title(
        lang,
        error.is_some() || !filled.errors.is_empty(),
        heading.to_owned(),
    );
    let body = html! {
        h1 { (heading) }
        p.help { (form::message_comment(&c.pool, &msg).replace('\n', " ")) }
        (error_summary(lang, error.as_deref(), filled))
        form.act method="post" action=(format!("/cases/new/{procedure}")) {
            input type="hidden" name="_csrf" value=(ctx.csrf);
            input type="hidden" name="request_id" value=(filled.one("request_id"));
            (act_section(c, lang, filled, seat))
            (form::fields(&c.pool, lang, &msg, "", filled, &OPEN_SKIP))
            p.required-note { span.required aria-hidden="true" { "*" } " " (t(lang, "required_fields")) }
            button type="submit" { (heading) }
        }
    };
    with_status(c.page_of(ctx, &title, body), status)
}

pub(super) async fn open_case(
    State(c): State<Arc<Console>>,
    Path(procedure): Path<String>,
    headers: HeaderMap,
    axum::Form(pairs): Submitted,
) -> Response {
    let (ctx, mut filled) = match c.posted(&headers, &format!("/cases/new/{procedure}"), &pairs) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(name) = open_message(&procedure) else {
        return pages::not_a_command(&c, &ctx, &procedure);
    };
    let Some(msg) = c.message(name) else {
        return pages::not_a_command(&c, &ctx, &procedure);
    };
    // New cases date their acts at the seat the Bureau's rules name; the form says which.
    let seat = seat_in_force(&c, &ctx.s).await;
    let built = zone_of(&filled, &seat)
        .map_err(|e| ("act.time_zone".to_owned(), e))
        .and_then(|zone| request_json(&c, &msg, "", &filled, zone, &OPEN_SKIP));
    let (mut body, act) = match built {
        Ok(x) => x,
        Err((field, expected)) => {
            filled.errors.insert(field, format!("expected {expected}"));
            return render_open(
                &c,
                &ctx,
                &procedure,
                &seat,
                &filled,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    body.insert("request_id".into(), filled.one("request_id").into());
    body.insert("act".into(), act);
    let json = serde_json::Value::Object(body);
    let outcome = if procedure == "formal" {
        match decode::<pb::OpenFormalCaseRequest>(&c, name, json) {
            Ok(r) => c.cases.open_formal_case(ctx.s.request(r)).await,
            Err(e) => Err(Status::invalid_argument(e)),
        }
    } else {
        match decode::<pb::OpenPreventiveCaseRequest>(&c, name, json) {
            Ok(r) => c.cases.open_preventive_case(ctx.s.request(r)).await,
            Err(e) => Err(Status::invalid_argument(e)),
        }
    };
    match outcome {
        Ok(r) => {
            let id = r.into_inner().case.map(|v| v.case_id).unwrap_or_default();
            see_other(&format!("/cases/{id}?done=open_{procedure}_case"))
        }
        Err(s)
            if matches!(
                s.code(),
                Code::InvalidArgument
                    | Code::FailedPrecondition
                    | Code::PermissionDenied
                    | Code::AlreadyExists
            ) =>
        {
            let error = Some(place_error(&c, ctx.lang, &s, &mut filled, "", None));
            render_open(
                &c,
                &ctx,
                &procedure,
                &seat,
                &filled,
                error,
                pages::refused_status(&s),
            )
        }
        Err(s) => c.failure(&ctx, &s),
    }
}
