//! `aspflow case ...`: the first gRPC client. Requests are written as proto3 JSON (field names
//! in snake_case or camelCase, times in RFC 3339, dates as YYYY-MM-DD) and sent over gRPC;
//! replies are printed as tables, or as proto3 JSON with `--json`. The connection (TLS, bearer
//! token) is `cli::connect`'s.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use tonic::Request;

use super::connect::{ServerArgs, connect};
use crate::{
    api::auth,
    pb::{self, cases_client::CasesClient, roster_client::RosterClient},
};

/// Options shared by every `aspflow case` subcommand.
#[derive(Debug, Args)]
pub struct CaseArgs {
    /// Where the server is, how to trust it, and the bearer token.
    #[command(flatten)]
    pub conn: ServerArgs,
    /// Role to act in: court_liaison, president, bureau, focal_point, secretariat, auditor,
    /// observer. Without a token (development mode) you name yourself, and writes need a role;
    /// with --token, the role is the token's, and --as only picks one when it grants several.
    #[arg(long = "as", env = "ASPFLOW_ROLE", global = true)]
    pub role: Option<String>,
    /// Who is acting (development mode only; default: dev-<role>). With a token, the
    /// token's subject acts.
    #[arg(long, env = "ASPFLOW_SUBJECT", global = true)]
    pub subject: Option<String>,
    /// Region covered by a focal point, or the President's own region (development mode only,
    /// when the roster does not name you; with a token the roster alone decides).
    #[arg(long, env = "ASPFLOW_REGION", global = true)]
    pub region: Option<String>,
    /// Print replies as proto3 JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CaseCommand,
}

/// `aspflow case` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// List every command `exec` takes, with its fields (no server needed).
    Commands {
        /// Only the commands of this procedure: formal or preventive.
        #[arg(long)]
        procedure: Option<String>,
    },
    /// Open a formal case from a Court referral. REQUEST is an OpenFormalCaseRequest as JSON, or
    /// @FILE. `request_id` defaults to a new one; `act.occurred_at` to now.
    OpenFormal {
        /// JSON or @FILE.
        request: String,
    },
    /// Open a preventive case from an alert. REQUEST is an OpenPreventiveCaseRequest as JSON or
    /// @FILE.
    OpenPreventive {
        /// JSON or @FILE.
        request: String,
    },
    /// The Bureau proposes an interpretative resolution (extension E5). REQUEST is a
    /// ProposeInterpretativeResolutionRequest as JSON or @FILE; adopt or withdraw it with
    /// `exec IR-... adopt_interpretative_resolution` / `withdraw_interpretative_resolution`.
    ProposeResolution {
        /// JSON or @FILE.
        request: String,
    },
    /// The procedure rules in force: those a case opened now pins (adopted by the Bureau, or
    /// the built-in defaults).
    Rules,
    /// The Bureau adopts the procedure rules new cases pin. REQUEST is an
    /// AdoptProcedureRulesRequest as JSON or @FILE, e.g. `{"term":"2023-2026",
    /// "decision_ref":"Bureau, 5th meeting","rules":{"set_fields":["e1_warned_measures"],
    /// "e1_warned_measures":true}}`.
    AdoptRules {
        /// JSON or @FILE.
        request: String,
    },
    /// Execute a command on a case, e.g.
    /// `aspflow case exec NC-2017-0001 seize_bureau '{"meeting_no":"B/1"}' --at 2018-01-10 --as bureau`.
    Exec {
        /// Case id or reference.
        case: String,
        /// Command name (a field of ExecuteRequest.command), e.g. send_open_letter.
        command: String,
        /// The command's fields as JSON, or @FILE (default `{}`).
        #[arg(default_value = "{}")]
        fields: String,
        /// Legal time of the act: RFC 3339, or a date (noon UTC). Default: now.
        #[arg(long)]
        at: Option<String>,
        /// Document symbols recording the act (repeatable).
        #[arg(long = "doc")]
        documents: Vec<String>,
        /// Idempotency key (default: a new one). Reuse it to retry safely.
        #[arg(long)]
        request_id: Option<String>,
        /// Fail with ABORTED unless the case is at this version.
        #[arg(long)]
        expected_version: Option<u64>,
    },
    /// Show a case, its next deadline and what you may do now.
    Show {
        /// Case id or reference.
        case: String,
        /// As of this version.
        #[arg(long)]
        as_of_version: Option<u64>,
        /// As of this recorded time (RFC 3339).
        #[arg(long)]
        as_of_recorded: Option<String>,
        /// As of this legal time (RFC 3339 or a date).
        #[arg(long)]
        as_of_legal: Option<String>,
    },
    /// List cases.
    List {
        /// formal or preventive.
        #[arg(long)]
        procedure: Option<String>,
        /// Stage of the procedure (its state), e.g. AwaitingViews.
        #[arg(long, alias = "stage")]
        state: Option<String>,
        /// open or closed.
        #[arg(long)]
        status: Option<String>,
        /// ISO code of the requested State.
        #[arg(long)]
        requested_state: Option<String>,
        /// Region.
        #[arg(long)]
        region: Option<String>,
        /// Part of the person sought's name.
        #[arg(long)]
        person: Option<String>,
        /// Next deadline on or before this date.
        #[arg(long)]
        deadline_before: Option<String>,
        /// Page size (1-500).
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// Page token from a previous page (of a list in the same order).
        #[arg(long)]
        page_token: Option<String>,
        /// `opened` (the default) or `next_deadline` (the soonest first, as the console
        /// lists them).
        #[arg(long)]
        order: Option<String>,
    },
    /// Show a case's history.
    History {
        /// Case id or reference.
        case: String,
    },
    /// Print a case's events as they are recorded (Ctrl-C to stop).
    Watch {
        /// Case id or reference.
        case: String,
        /// First version to print.
        #[arg(long, default_value_t = 1)]
        from_version: u64,
    },
    /// What you may do on a case now, and why not the rest.
    Actions {
        /// Case id or reference.
        case: String,
    },
}

/// Prints a line; a closed stdout (e.g. piped into `head`) is not an error worth a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn pool() -> anyhow::Result<DescriptorPool> {
    DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).context("embedded descriptors")
}

/// Parses proto3 JSON into a message of type `T` named `name`.
fn from_json<T: prost::Message + Default>(
    name: &str,
    json: &serde_json::Value,
) -> anyhow::Result<T> {
    let pool = pool()?;
    let desc = pool
        .get_message_by_name(name)
        .ok_or_else(|| anyhow!("unknown message {name}"))?;
    let msg =
        DynamicMessage::deserialize(desc, json.clone()).map_err(|e| anyhow!("{name}: {e}"))?;
    msg.transcode_to::<T>().map_err(|e| anyhow!("{name}: {e}"))
}

/// Prints a message as proto3 JSON.
fn to_json<T: prost::Message>(name: &str, value: &T) -> anyhow::Result<String> {
    let pool = pool()?;
    let desc = pool
        .get_message_by_name(name)
        .ok_or_else(|| anyhow!("unknown message {name}"))?;
    let mut msg = DynamicMessage::new(desc);
    msg.transcode_from(value)?;
    let mut ser = serde_json::Serializer::pretty(Vec::new());
    msg.serialize_with_options(
        &mut ser,
        &SerializeOptions::new()
            .use_proto_field_name(true)
            .stringify_64_bit_integers(false),
    )?;
    Ok(String::from_utf8(ser.into_inner())?)
}

fn read_json(arg: &str) -> anyhow::Result<serde_json::Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
        }
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).with_context(|| format!("not valid JSON: {text}"))
}

#[allow(clippy::disallowed_methods)] // the CLI stamps "now" for a person typing a command
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_request_id() -> String {
    format!("cli-{}", uuid::Uuid::now_v7())
}

/// A time given as RFC 3339 or as a date (noon UTC).
fn time_arg(v: &str) -> anyhow::Result<String> {
    if chrono::DateTime::parse_from_rfc3339(v).is_ok() {
        return Ok(v.to_owned());
    }
    let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        anyhow!("{v:?} is neither RFC 3339 (2013-07-15T10:00:00Z) nor a date (2013-07-15)")
    })?;
    Ok(format!("{d}T12:00:00Z"))
}

struct Caller<'a>(&'a CaseArgs);

impl Caller<'_> {
    fn request<T>(&self, msg: T) -> anyhow::Result<Request<T>> {
        let mut req = Request::new(msg);
        let md = req.metadata_mut();
        if let Some(r) = &self.0.role {
            md.insert(auth::ROLE, r.parse()?);
        }
        if let Some(s) = &self.0.subject {
            md.insert(auth::SUBJECT, s.parse()?);
        }
        if let Some(r) = &self.0.region {
            md.insert(auth::REGION, r.parse()?);
        }
        Ok(req)
    }
}

fn explain(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt;
    let what = match status.code() {
        tonic::Code::FailedPrecondition => "refused".to_owned(),
        tonic::Code::PermissionDenied => "not permitted".to_owned(),
        tonic::Code::InvalidArgument => "invalid request".to_owned(),
        tonic::Code::NotFound => "not found".to_owned(),
        tonic::Code::AlreadyExists => "already used".to_owned(),
        tonic::Code::Unauthenticated => "not signed in".to_owned(),
        other => format!("{other:?}"),
    };
    // The words first; the gRPC code in brackets for those who script against it.
    let mut msg = if what == format!("{:?}", status.code()) {
        format!("{what}: {}", status.message())
    } else {
        format!("{what} ({:?}): {}", status.code(), status.message())
    };
    if let Some(hint) = super::connect::hint(&status) {
        msg.push_str(&format!("\n  {hint}"));
    }
    let details = status.get_error_details();
    if let Some(info) = details.error_info() {
        msg.push_str(&format!("\n  rejection: {}", info.reason));
        let mut fields: Vec<_> = info.metadata.iter().collect();
        fields.sort();
        for (k, v) in fields {
            msg.push_str(&format!("\n    {k}: {v}"));
        }
    }
    if let Some(br) = details.bad_request() {
        for v in &br.field_violations {
            msg.push_str(&format!("\n  field {}: {}", v.field, v.description));
        }
    }
    anyhow!(msg)
}

/// A stored snake_case value parsed back into its domain type, for its label.
fn parsed<T: serde::de::DeserializeOwned>(v: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(v.to_owned())).ok()
}

fn print_case(c: &pb::CaseView) {
    use crate::domain::{DeadlineKind, Region, StateStatus};
    out!("case        {} ({})", c.reference, c.case_id);
    out!("procedure   {}", c.procedure);
    // "stage": the procedure's state; "State" is the requested State (the country).
    out!(
        "stage       {}{}",
        c.state,
        if c.closed { " (closed)" } else { "" }
    );
    out!("version     {}", c.version);
    if let Some(s) = &c.requested_state {
        let status = parsed::<StateStatus>(&s.status).map_or(s.status.as_str(), |x| x.label());
        let region = parsed::<Region>(&s.region).map_or(s.region.as_str(), |x| x.label());
        out!(
            "State       {} ({}): {status}, {region}",
            s.name,
            s.iso_code
        );
    }
    if !c.person_sought.is_empty() {
        out!("person      {}", c.person_sought);
    }
    for d in &c.deadlines {
        let kind = parsed::<DeadlineKind>(&d.kind).map_or(d.kind.as_str(), |k| k.label());
        let ends = d
            .ends_at
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(|t| format!(", ends {}", super::time_text(t)))
            .unwrap_or_default();
        let zone = if d.time_zone.is_empty() {
            String::new()
        } else {
            format!(" ({})", d.time_zone)
        };
        out!(
            "deadline    {kind}: {}{zone}{ends}{}",
            d.due,
            if d.fires {
                "; recorded automatically when it passes"
            } else {
                ""
            }
        );
    }
    if !c.linked_case_id.is_empty() {
        out!("linked      {}", c.linked_case_id);
    }
}

/// Who may act next on a case, command by command: the domain's answer for every role, from
/// the state the server sent (this CLI carries the same domain code). `None` when the state
/// cannot be read (another version's shape, or withheld from this caller).
fn next_by_role(c: &pb::CaseView) -> Option<Vec<(String, Vec<&'static str>)>> {
    use crate::domain::{Region, case};
    let state = case::CaseState::from_view(&c.procedure, &c.state_json)?;
    let region: Region = c
        .requested_state
        .as_ref()
        .and_then(|s| serde_json::from_value(serde_json::json!(s.region)).ok())?;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    Some(
        case::who_may_act(&state, region, now)
            .into_iter()
            .map(|(c, roles)| {
                (
                    c.as_str().to_owned(),
                    roles.iter().map(|r| r.as_str()).collect(),
                )
            })
            .collect(),
    )
}

/// Prints and returns the commands the caller may issue now.
fn print_allowed(actions: &[pb::ActionAvailability]) -> Vec<&str> {
    let yes: Vec<&str> = actions
        .iter()
        .filter(|a| a.allowed)
        .map(|a| a.command.as_str())
        .collect();
    out!(
        "you may now: {}",
        if yes.is_empty() {
            "nothing".to_owned()
        } else {
            yes.join(", ")
        }
    );
    yes
}

/// What the caller may do now, who may do what the caller may not, and (with `full`) what no
/// one may do at this stage and why.
fn print_actions(actions: &[pb::ActionAvailability], full: bool, case: Option<&pb::CaseView>) {
    if let Some(next) = case.and_then(next_by_role) {
        let yes = print_allowed(actions);
        let others: Vec<_> = next
            .iter()
            .filter(|(n, _)| !yes.contains(&n.as_str()))
            .collect();
        if !others.is_empty() {
            out!("who may act next:");
            for (n, roles) in &others {
                out!("  {:<36} {}", n, roles.join(", "));
            }
        }
        let rest = actions
            .iter()
            .filter(|a| !a.allowed && !next.iter().any(|(n, _)| *n == a.command))
            .count();
        if rest > 0 && !full {
            out!(
                "({rest} more commands are not possible at this stage; `aspflow case actions` says why)"
            );
        }
        if !full {
            return;
        }
    }
    print_actions_of_caller(actions, full);
}

/// [`print_actions`] from the caller's own answer only.
fn print_actions_of_caller(actions: &[pb::ActionAvailability], full: bool) {
    use crate::domain::permissions::{CommandKind, allowed_roles};
    let roles_of = |name: &str| {
        CommandKind::ALL
            .iter()
            .find(|k| k.as_str() == name)
            .map(|k| {
                allowed_roles(*k)
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    print_allowed(actions);
    // Denied because of who the caller is: someone else acts next.
    let others: Vec<&pb::ActionAvailability> = actions
        .iter()
        .filter(|a| {
            !a.allowed
                && matches!(
                    a.reason_code.as_str(),
                    "NotPermitted" | "FocalPointRegionMismatch"
                )
        })
        .collect();
    if !others.is_empty() {
        out!("who acts next:");
        for a in &others {
            out!("  {:<36} {}", a.command, roles_of(&a.command));
        }
    }
    let rest: Vec<&pb::ActionAvailability> = actions
        .iter()
        .filter(|a| !a.allowed && !others.iter().any(|o| o.command == a.command))
        .collect();
    if full {
        if !rest.is_empty() {
            out!("not possible now:");
        }
        for a in rest {
            out!("  {:<36} {}", a.command, a.reason);
        }
    } else if !rest.is_empty() {
        out!(
            "({} more commands are not possible at this stage; `aspflow case actions` says why)",
            rest.len()
        );
    }
}

fn print_event_line(e: &pb::RecordedEvent) {
    let at = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(super::time_text)
            .unwrap_or_default()
    };
    out!(
        "{:>4}  {:<20}  {:<20}  {:<48}  {} ({})",
        e.version,
        at(&e.occurred_at),
        at(&e.recorded_at),
        e.event_type,
        e.actor,
        e.role
    );
}

/// A request read from JSON with a new `request_id` and `act.occurred_at` = now unless given.
fn with_request_defaults(mut json: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let obj = json
        .as_object_mut()
        .ok_or_else(|| anyhow!("the request must be a JSON object"))?;
    obj.entry("request_id")
        .or_insert_with(|| new_request_id().into());
    let act = obj
        .entry("act")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow!("act must be an object"))?;
    act.entry("occurred_at")
        .or_insert_with(|| now_rfc3339().into());
    Ok(json)
}

/// The rules in force, one line a parameter.
fn print_rules(r: &pb::RulesInForce) {
    let source = if r.term.is_empty() {
        "the built-in defaults (no Bureau has adopted rules)".to_owned()
    } else {
        format!(
            "adopted by the Bureau of {} on {} ({})",
            r.term, r.adopted_on, r.decision_ref
        )
    };
    out!("rules version {}: {source}", r.version);
    if let Some(p) = &r.rules {
        out!(
            "  reply window                      {} days",
            p.reply_window_days
        );
        out!(
            "  agenda gap                        {} months",
            p.agenda_gap_months
        );
        out!(
            "  public meeting within             {} days",
            p.public_meeting_within_days
        );
        out!(
            "  report without public meeting     {}",
            p.report_without_public_meeting
        );
        out!(
            "  extend reply window after appeal  {}",
            p.extend_reply_window_after_suspension
        );
        out!(
            "  focal points                      {}",
            p.focal_point_count
        );
        out!(
            "  legal time tolerance              {} hours",
            p.legal_time_tolerance_hours
        );
        let on = |b: bool| if b { "on" } else { "off" };
        out!(
            "  E1 warned measures                {}",
            on(p.e1_warned_measures)
        );
        out!(
            "  E2 publication                    {}",
            on(p.e2_publication)
        );
        out!(
            "  E3 referral to the UNSC           {}",
            on(p.e3_unsc_referral)
        );
        out!(
            "  E4 prompt response                {} (Bureau action within {} days)",
            on(p.e4_prompt_response),
            p.e4_bureau_action_days
        );
        out!(
            "  E5 interpretative resolutions     {}",
            on(p.e5_interpretative_resolutions)
        );
        out!(
            "  E6 art. 97 participation          {}",
            on(p.e6_consultation_participation)
        );
        out!(
            "  E7 standing channel               {}",
            on(p.e7_standing_channel)
        );
    }
}

fn print_outcome(r: &pb::ExecuteResponse) {
    if r.replayed {
        out!("(already done: this is the stored result of the same request)");
    }
    for e in &r.recorded {
        out!("recorded {} as version {}", e.event_type, e.version);
    }
    if !r.opened_case_id.is_empty() {
        out!("opened formal case {}", r.opened_case_id);
    }
    if let Some(c) = &r.case {
        print_case(c);
    }
    print_actions(&r.available_actions, false, r.case.as_ref());
}

/// Runs an `aspflow case` subcommand.
///
/// # Errors
/// Connection failures and error statuses, explained.
pub async fn run(args: CaseArgs) -> anyhow::Result<ExitCode> {
    // What needs no server, and what can be refused before anything is sent.
    match &args.command {
        CaseCommand::Commands { procedure } => {
            let text = super::commands_help::list(&pool()?, procedure.as_deref())
                .map_err(|e| anyhow!(e))?;
            out!("{}", text.trim_end());
            return Ok(ExitCode::SUCCESS);
        }
        CaseCommand::Exec {
            command, fields, ..
        } => {
            super::commands_help::check(&pool()?, command, &read_json(fields)?)
                .map_err(|e| anyhow!(e))?;
        }
        _ => {}
    }
    let channel = connect(&args.conn).await?;
    let mut cases = CasesClient::new(channel.clone());
    let caller = Caller(&args);
    match &args.command {
        CaseCommand::Commands { .. } => {}
        CaseCommand::Rules => {
            let r = RosterClient::new(channel.clone())
                .get_rules_in_force(caller.request(pb::GetRulesInForceRequest {})?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.RulesInForce", &r)?);
            } else {
                print_rules(&r);
            }
        }
        CaseCommand::AdoptRules { request } => {
            let json = with_request_defaults(read_json(request)?)?;
            let msg: pb::AdoptProcedureRulesRequest =
                from_json("aspflow.v1.AdoptProcedureRulesRequest", &json)?;
            let view = RosterClient::new(channel.clone())
                .adopt_procedure_rules(caller.request(msg)?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.RosterView", &view)?);
            } else if let Some(r) = &view.adopted_rules {
                out!("adopted for term {}:", view.term);
                print_rules(r);
            }
        }
        CaseCommand::ProposeResolution { request } => {
            let json = with_request_defaults(read_json(request)?)?;
            let msg: pb::ProposeInterpretativeResolutionRequest =
                from_json("aspflow.v1.ProposeInterpretativeResolutionRequest", &json)?;
            let reply = cases
                .propose_interpretative_resolution(caller.request(msg)?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.ExecuteResponse", &reply)?);
            } else {
                print_outcome(&reply);
            }
        }
        CaseCommand::OpenFormal { request } | CaseCommand::OpenPreventive { request } => {
            let json = with_request_defaults(read_json(request)?)?;
            let reply = if matches!(args.command, CaseCommand::OpenFormal { .. }) {
                let msg: pb::OpenFormalCaseRequest =
                    from_json("aspflow.v1.OpenFormalCaseRequest", &json)?;
                cases.open_formal_case(caller.request(msg)?).await
            } else {
                let msg: pb::OpenPreventiveCaseRequest =
                    from_json("aspflow.v1.OpenPreventiveCaseRequest", &json)?;
                cases.open_preventive_case(caller.request(msg)?).await
            }
            .map_err(explain)?
            .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.ExecuteResponse", &reply)?);
            } else {
                print_outcome(&reply);
            }
        }
        CaseCommand::Exec {
            case,
            command,
            fields,
            at,
            documents,
            request_id,
            expected_version,
        } => {
            let body = read_json(fields)?;
            let occurred_at = match at {
                Some(t) => time_arg(t)?,
                None => now_rfc3339(),
            };
            let docs: Vec<_> = documents
                .iter()
                .map(|d| serde_json::json!({ "symbol": d }))
                .collect();
            let mut json = serde_json::json!({
                "case_id": case,
                "request_id": request_id.clone().unwrap_or_else(new_request_id),
                "act": { "occurred_at": occurred_at, "documents": docs },
            });
            if let Some(v) = expected_version {
                json["expected_version"] = serde_json::json!(v);
            }
            json[command.as_str()] = body;
            let msg: pb::ExecuteRequest = from_json("aspflow.v1.ExecuteRequest", &json).map_err(|e| {
                anyhow!("{e}\n(the command name is a field of ExecuteRequest.command, e.g. seize_bureau, send_open_letter, record_views, assess_situation; see docs/api.md)")
            })?;
            let reply = cases
                .execute(caller.request(msg)?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.ExecuteResponse", &reply)?);
            } else {
                print_outcome(&reply);
            }
        }
        CaseCommand::Show {
            case,
            as_of_version,
            as_of_recorded,
            as_of_legal,
        } => {
            let mut json = serde_json::json!({ "case_id": case });
            if let Some(v) = as_of_version {
                json["as_of_version"] = serde_json::json!(v);
            }
            if let Some(t) = as_of_recorded {
                json["as_of_recorded"] = time_arg(t)?.into();
            }
            if let Some(t) = as_of_legal {
                json["as_of_legal"] = time_arg(t)?.into();
            }
            let msg: pb::GetCaseRequest = from_json("aspflow.v1.GetCaseRequest", &json)?;
            let view = cases
                .get_case(caller.request(msg)?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.CaseView", &view)?);
            } else {
                print_case(&view);
                let actions = cases
                    .available_actions(caller.request(pb::AvailableActionsRequest {
                        case_id: view.case_id.clone(),
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner();
                print_actions(&actions.actions, false, Some(&view));
            }
        }
        CaseCommand::List {
            procedure,
            state,
            status,
            requested_state,
            region,
            person,
            deadline_before,
            page_size,
            page_token,
            order,
        } => {
            let o = |v: &Option<String>| v.clone().unwrap_or_default();
            let reply = cases
                .list_cases(caller.request(pb::ListCasesRequest {
                    procedure: o(procedure),
                    state: o(state),
                    status: o(status),
                    requested_state: o(requested_state),
                    region: o(region),
                    person_sought: o(person),
                    deadline_before: o(deadline_before),
                    page_size: *page_size,
                    page_token: o(page_token),
                    order_by: o(order),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!("{}", to_json("aspflow.v1.ListCasesResponse", &reply)?);
            } else {
                out!(
                    "{:<14} {:<10} {:<32} {:<11} {:<24} {:<12} {:>7}",
                    "REFERENCE",
                    "PROCEDURE",
                    "STAGE",
                    "STATE (ISO)",
                    "PERSON SOUGHT",
                    "NEXT DUE",
                    "VERSION"
                );
                for c in &reply.cases {
                    out!(
                        "{:<14} {:<10} {:<32} {:<11} {:<24} {:<12} {:>7}",
                        cut(&c.reference, 14),
                        c.procedure,
                        cut(&c.state, 32),
                        c.requested_state,
                        cut(&c.person_sought, 24),
                        c.next_deadline,
                        c.version
                    );
                }
                if !reply.next_page_token.is_empty() {
                    out!("more: --page-token {}", reply.next_page_token);
                }
            }
        }
        CaseCommand::History { case } => {
            // Every page (the server sends at most 1000 events at once).
            let mut reply = pb::GetHistoryResponse::default();
            let mut from_version = 1;
            loop {
                let page = cases
                    .get_history(caller.request(pb::GetHistoryRequest {
                        case_id: case.clone(),
                        from_version,
                        limit: 0,
                    })?)
                    .await
                    .map_err(explain)?
                    .into_inner();
                reply.events.extend(page.events);
                if page.next_from_version == 0 {
                    break;
                }
                from_version = page.next_from_version;
            }
            if args.json {
                out!("{}", to_json("aspflow.v1.GetHistoryResponse", &reply)?);
            } else {
                out!(
                    "{:>4}  {:<20}  {:<20}  {:<48}  ACTOR (ROLE)",
                    "V",
                    "OCCURRED",
                    "RECORDED",
                    "EVENT"
                );
                for e in &reply.events {
                    print_event_line(e);
                }
            }
        }
        CaseCommand::Watch { case, from_version } => {
            let mut stream = cases
                .watch_case(caller.request(pb::WatchCaseRequest {
                    case_id: case.clone(),
                    from_version: *from_version,
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            while let Some(e) = stream.message().await.map_err(explain)? {
                if args.json {
                    out!(
                        "{}",
                        to_json("aspflow.v1.RecordedEvent", &e)?.replace('\n', " ")
                    );
                } else {
                    print_event_line(&e);
                }
            }
        }
        CaseCommand::Actions { case } => {
            let reply = cases
                .available_actions(caller.request(pb::AvailableActionsRequest {
                    case_id: case.clone(),
                })?)
                .await
                .map_err(explain)?
                .into_inner();
            if args.json {
                out!(
                    "{}",
                    to_json("aspflow.v1.AvailableActionsResponse", &reply)?
                );
            } else {
                print_actions(&reply.actions, true, None);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` cut to `width` characters, with an ellipsis when something was cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod cut_tests {
    use super::cut;

    #[test]
    fn long_names_end_in_an_ellipsis() {
        assert_eq!(
            cut("Omar Hassan Ahmad Al Bashir", 24),
            "Omar Hassan Ahmad Al Ba…"
        );
        assert_eq!(cut("Jordan", 24), "Jordan");
        assert_eq!(cut("Omar Hassan Ahmad Al Bashir", 24).chars().count(), 24);
    }
}
