//! `aspflow.v1.Cases`: thin handlers (convert, call the engine, map errors).

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::{
    auth, convert,
    status::Invalid,
    streams::{self, ResultStream},
    visibility,
};
use crate::{
    domain::{CaseId, Context, Principal, case},
    engine::{AsOf, Engine, EngineError, Outcome},
    pb::{self, cases_server::Cases},
    store::{EventStore, NO_DEADLINE, StreamId, SummaryFilter, SummaryOrder},
};

/// Most events in one `GetHistory` page.
pub const MAX_HISTORY_PAGE: u32 = 1000;

/// Events read from the log per query by a stream.
const PAGE: u32 = 500;

/// The service.
#[derive(Clone)]
pub struct CasesService {
    engine: Engine,
    auth: auth::Auth,
    stop: watch::Receiver<bool>,
}

impl CasesService {
    /// A service over `engine`; streams end when `stop` turns true.
    pub fn new(engine: Engine, auth: auth::Auth, stop: watch::Receiver<bool>) -> Self {
        CasesService { engine, auth, stop }
    }

    fn respond(&self, o: Outcome, principal: &Principal) -> pb::ExecuteResponse {
        self.respond_as(o, principal, pb::ReplyView::Full)
    }

    /// The answer to a write, with what `view` asks for.
    fn respond_as(
        &self,
        o: Outcome,
        principal: &Principal,
        view: pb::ReplyView,
    ) -> pb::ExecuteResponse {
        let full = view != pb::ReplyView::Compact;
        let available_actions = if full {
            let ctx = Context {
                now: self.engine.clock().now(),
                principal: principal.clone(),
            };
            case::available_actions(&o.case.state, &ctx)
                .iter()
                .map(convert::availability)
                .collect()
        } else {
            Vec::new()
        };
        pb::ExecuteResponse {
            case: Some(convert::case_view_with(&o.case, full)),
            recorded: o.recorded.iter().map(convert::event).collect(),
            available_actions,
            opened_case_id: o.opened.map(|c| c.to_string()).unwrap_or_default(),
            replayed: o.replayed,
        }
    }

    async fn case_id(&self, v: &str) -> Result<CaseId, Status> {
        if v.trim().is_empty() {
            return Err(Invalid::new(
                "case_id",
                "a case id (UUID) or reference such as NC-2017-0001",
            )
            .into());
        }
        Ok(self.engine.resolve(v.trim()).await?)
    }

    async fn open_formal_case_inner(
        &self,
        req: Request<pb::OpenFormalCaseRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/OpenFormalCase")
            .await?;
        super::limits::check("OpenFormalCaseRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        tracing::Span::current().record("request_id", rid.as_str());
        let cmd = convert::open_formal(r)?;
        let o = self.engine.open(&principal, &rid, cmd).await?;
        Ok(Response::new(self.respond(o, &principal)))
    }

    async fn open_preventive_case_inner(
        &self,
        req: Request<pb::OpenPreventiveCaseRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/OpenPreventiveCase")
            .await?;
        super::limits::check("OpenPreventiveCaseRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        tracing::Span::current().record("request_id", rid.as_str());
        let cmd = convert::open_preventive(r)?;
        let o = self.engine.open(&principal, &rid, cmd).await?;
        Ok(Response::new(self.respond(o, &principal)))
    }

    async fn propose_interpretative_resolution_inner(
        &self,
        req: Request<pb::ProposeInterpretativeResolutionRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/ProposeInterpretativeResolution")
            .await?;
        super::limits::check("ProposeInterpretativeResolutionRequest", req.get_ref())?;
        let r = req.get_ref();
        let rid = convert::request_id(&r.request_id)?;
        tracing::Span::current().record("request_id", rid.as_str());
        let mut linked = Vec::new();
        for (i, c) in r.linked_case_ids.iter().enumerate() {
            let c = convert::text(&format!("linked_case_ids[{i}]"), c)?;
            linked.push(self.engine.resolve(&c).await?);
        }
        let cmd = convert::propose_resolution(r, linked)?;
        let o = self.engine.open(&principal, &rid, cmd).await?;
        Ok(Response::new(self.respond(o, &principal)))
    }

    async fn execute_inner(
        &self,
        req: Request<pb::ExecuteRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/Execute")
            .await?;
        super::limits::check("ExecuteRequest", req.get_ref())?;
        let r = req.get_ref();
        // The caller's role is checked before the fields: a person who may not act hears that
        // first, not what is wrong with the form.
        if let Some(kind) = super::access::command_of(r) {
            crate::domain::permissions::authorize(&principal, kind, None)
                .map_err(crate::engine::EngineError::Rejected)?;
        }
        let rid = convert::request_id(&r.request_id)?;
        let span = tracing::Span::current();
        span.record("request_id", rid.as_str());
        let act = convert::act(r.act.as_ref())?;
        // A partial amend_rules (set_fields) changes the case's current rules, not the
        // server's defaults.
        let partial_amend = matches!(
            &r.command,
            Some(pb::execute_request::Command::AmendRules(m))
                if m.rules.as_ref().is_some_and(|x| !x.set_fields.is_empty())
        );
        let (id, case_rules) = if partial_amend {
            let id = self.case_id(&r.case_id).await?;
            let (state, _) = self.engine.current(id).await?;
            (Some(id), state.rules().cloned())
        } else {
            (None, None)
        };
        let base = case_rules
            .as_ref()
            .unwrap_or_else(|| self.engine.default_rules());
        let cmd = convert::command(r.command.as_ref(), base)?;
        let id = match id {
            Some(id) => id,
            None => self.case_id(&r.case_id).await?,
        };
        span.record("case", tracing::field::display(id));
        let o = self
            .engine
            .execute(&principal, id, r.expected_version, &rid, act, cmd)
            .await?;
        // An unknown value (from a newer client) gets the full answer, as unset does.
        let view = pb::ReplyView::try_from(r.reply).unwrap_or(pb::ReplyView::Full);
        Ok(Response::new(self.respond_as(o, &principal, view)))
    }
}

/// Records a write RPC's outcome and latency (crate::metrics); the procedure is the case's
/// when the answer names it, else `otherwise` (known for the opening RPCs, `unknown` for a
/// refused `Execute`).
fn write_done(
    rpc: &'static str,
    otherwise: &'static str,
    command: &str,
    started: std::time::Instant,
    result: &Result<Response<pb::ExecuteResponse>, Status>,
) {
    let procedure = match result {
        Ok(r) => r
            .get_ref()
            .case
            .as_ref()
            .map_or(otherwise, |c| c.procedure.as_str()),
        Err(_) => otherwise,
    };
    let took = started.elapsed();
    let (outcome, code) = crate::metrics::command(rpc, procedure, command, took, result);
    let span = tracing::Span::current();
    span.record("command", command);
    if let Ok(r) = result
        && let Some(c) = &r.get_ref().case
    {
        span.record("case", c.case_id.as_str());
        if let Some(e) = r.get_ref().recorded.first() {
            span.record("correlation_id", e.correlation_id.as_str());
        }
    }
    #[allow(clippy::cast_possible_truncation)] // milliseconds of one call
    let took_ms = took.as_millis() as u64;
    tracing::debug!(outcome, code, took_ms, procedure, "write");
}

#[tonic::async_trait]
impl Cases for CasesService {
    async fn open_formal_case(
        &self,
        req: Request<pb::OpenFormalCaseRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let started = std::time::Instant::now();
        let result = self.open_formal_case_inner(req).await;
        write_done(
            "OpenFormalCase",
            "formal",
            "open_formal_case",
            started,
            &result,
        );
        result
    }

    async fn open_preventive_case(
        &self,
        req: Request<pb::OpenPreventiveCaseRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let started = std::time::Instant::now();
        let result = self.open_preventive_case_inner(req).await;
        write_done(
            "OpenPreventiveCase",
            "preventive",
            "open_preventive_case",
            started,
            &result,
        );
        result
    }

    async fn propose_interpretative_resolution(
        &self,
        req: Request<pb::ProposeInterpretativeResolutionRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let started = std::time::Instant::now();
        let result = self.propose_interpretative_resolution_inner(req).await;
        write_done(
            "ProposeInterpretativeResolution",
            "interpretative",
            "propose_interpretative_resolution",
            started,
            &result,
        );
        result
    }

    async fn execute(
        &self,
        req: Request<pb::ExecuteRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let started = std::time::Instant::now();
        let command = super::access::command_of(req.get_ref())
            .map_or("unknown", crate::domain::permissions::CommandKind::as_str);
        let result = self.execute_inner(req).await;
        write_done("Execute", "unknown", command, started, &result);
        result
    }

    async fn get_case(
        &self,
        req: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::CaseView>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/GetCase")
            .await?;
        super::limits::check("GetCaseRequest", req.get_ref())?;
        let r = req.get_ref();
        let given = [
            r.as_of_version.is_some(),
            r.as_of_recorded.is_some(),
            r.as_of_legal.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(Invalid::new(
                "as_of_version",
                "at most one of as_of_version, as_of_recorded, as_of_legal",
            )
            .into());
        }
        let as_of = if let Some(v) = r.as_of_version {
            AsOf::Version(v)
        } else if let Some(t) = &r.as_of_recorded {
            AsOf::Recorded(convert::timestamp("as_of_recorded", Some(t))?)
        } else if let Some(t) = &r.as_of_legal {
            AsOf::Legal(convert::timestamp("as_of_legal", Some(t))?)
        } else {
            AsOf::Latest
        };
        let id = self.case_id(&r.case_id).await?;
        let loaded = self.engine.load(id, as_of).await?;
        Ok(Response::new(convert::case_view(
            &visibility::visible_case(&principal, loaded),
        )))
    }

    async fn list_cases(
        &self,
        req: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let _caller = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/ListCases")
            .await?;
        super::limits::check("ListCasesRequest", req.get_ref())?;
        let r = req.get_ref();
        let opt = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_owned());
        let procedure = opt(&r.procedure);
        if let Some(p) = &procedure
            && !["formal", "preventive", "cases", "roster", "interpretative"].contains(&p.as_str())
        {
            return Err(Invalid::new(
                "procedure",
                "formal, preventive, cases (both), roster or interpretative",
            )
            .into());
        }
        let closed = match r.status.trim() {
            "" => None,
            "open" => Some(false),
            "closed" => Some(true),
            other => {
                return Err(Invalid::new(
                    "status",
                    format!("open, closed or empty, got {}", super::limits::shown(other)),
                )
                .into());
            }
        };
        if let Some(reg) = opt(&r.region) {
            convert::region("region", &reg)?;
        }
        let deadline_before = opt(&r.deadline_before)
            .map(|d| convert::date("deadline_before", &d).map(|d| d.to_string()))
            .transpose()?;
        let limit = match r.page_size {
            0 => 50,
            1..=500 => r.page_size,
            _ => return Err(Invalid::new("page_size", "between 1 and 500").into()),
        };
        let order = match r.order_by.trim() {
            "" | "opened" => SummaryOrder::Opened,
            "next_deadline" => SummaryOrder::NextDeadline,
            other => {
                return Err(Invalid::new(
                    "order_by",
                    format!(
                        "opened, next_deadline or empty, got {}",
                        super::limits::shown(other)
                    ),
                )
                .into());
            }
        };
        // A page token is the last case's id; by deadline, "YYYY-MM-DD/id" of the last case.
        let (after_deadline, after) = match opt(&r.page_token) {
            None => (None, None),
            Some(t) => {
                let (deadline, id) = match (order, t.split_once('/')) {
                    (SummaryOrder::NextDeadline, Some((d, id))) => {
                        let d = convert::date("page_token", d)?.to_string();
                        (Some(d), id.to_owned())
                    }
                    (SummaryOrder::NextDeadline, None) => {
                        return Err(Invalid::new(
                            "page_token",
                            "the next_page_token of a list with the same order_by",
                        )
                        .into());
                    }
                    (SummaryOrder::Opened, _) => (None, t),
                };
                let id = convert::case_id("page_token", &id).map(|c| StreamId(c.0))?;
                (deadline, Some(id))
            }
        };
        let filter = SummaryFilter {
            procedure,
            state: opt(&r.state),
            closed,
            requested_state: opt(&r.requested_state).map(|s| s.to_uppercase()),
            region: opt(&r.region),
            person_sought: opt(&r.person_sought),
            deadline_before,
            after,
            after_deadline,
            order,
            limit: limit + 1,
        };
        let mut rows = self
            .engine
            .read_store()
            .list_summaries(&filter)
            .await
            .map_err(crate::engine::EngineError::from)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_page_token = if more {
            rows.last()
                .map(|r| match order {
                    SummaryOrder::Opened => r.row.stream.to_string(),
                    SummaryOrder::NextDeadline => format!(
                        "{}/{}",
                        r.row.next_deadline.as_deref().unwrap_or(NO_DEADLINE),
                        r.row.stream
                    ),
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListCasesResponse {
            cases: rows.iter().map(convert::summary).collect(),
            next_page_token,
        }))
    }

    async fn get_history(
        &self,
        req: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/GetHistory")
            .await?;
        super::limits::check("GetHistoryRequest", req.get_ref())?;
        let r = req.get_ref();
        let limit = match r.limit {
            0 => MAX_HISTORY_PAGE,
            1..=MAX_HISTORY_PAGE => r.limit,
            _ => {
                return Err(Invalid::new(
                    "limit",
                    format!("between 1 and {MAX_HISTORY_PAGE} (0 means {MAX_HISTORY_PAGE})"),
                )
                .into());
            }
        };
        let id = self.case_id(&r.case_id).await?;
        let region = visibility::region_of(&self.engine.load(id, AsOf::Latest).await?);
        let events = self
            .engine
            .read_store()
            .read_stream(StreamId(id.0), r.from_version.max(1), Some(limit))
            .await
            .map_err(EngineError::from)?;
        let next_from_version = match events.last() {
            Some(last) if events.len() == limit as usize => last.version + 1,
            _ => 0,
        };
        Ok(Response::new(pb::GetHistoryResponse {
            events: events
                .iter()
                .map(|e| visibility::event_for(&principal, region, e))
                .collect(),
            next_from_version,
        }))
    }

    type WatchCaseStream = ResultStream<pb::RecordedEvent>;

    async fn watch_case(
        &self,
        req: Request<pb::WatchCaseRequest>,
    ) -> Result<Response<Self::WatchCaseStream>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/WatchCase")
            .await?;
        super::limits::check("WatchCaseRequest", req.get_ref())?;
        let r = req.get_ref();
        let id = self.case_id(&r.case_id).await?;
        // The case must exist now; later events arrive as they are recorded.
        let region = visibility::region_of(&self.engine.load(id, AsOf::Latest).await?);
        let (mut tx, stream) = streams::bounded(self.stop.clone());
        let engine = self.engine.clone();
        let mut next = r.from_version.max(1);
        // Registered before the first read, so that no commit falls between the two.
        let interest = engine.tail().register(move |e| e.stream.0 == id.0);
        let slot = self.auth.stream_slot(&principal)?;
        tokio::spawn(async move {
            let _slot = slot;
            let _open = crate::metrics::OpenStream::new("watch_case");
            loop {
                let page = match engine
                    .store()
                    .read_stream(StreamId(id.0), next, Some(PAGE))
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(EngineError::from(e).into())).await;
                        return;
                    }
                };
                let full = page.len() == PAGE as usize;
                for e in page {
                    next = e.version + 1;
                    let seen = visibility::event_for(&principal, region, &e);
                    if tx.send(Ok(seen)).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                // Sleeps until this case has a new event: an idle watcher costs nothing.
                tokio::select! {
                    _ = interest.notified() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn available_actions(
        &self,
        req: Request<pb::AvailableActionsRequest>,
    ) -> Result<Response<pb::AvailableActionsResponse>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.Cases/AvailableActions")
            .await?;
        super::limits::check("AvailableActionsRequest", req.get_ref())?;
        let id = self.case_id(&req.get_ref().case_id).await?;
        let loaded =
            visibility::visible_case(&principal, self.engine.load(id, AsOf::Latest).await?);
        let ctx = Context {
            now: self.engine.clock().now(),
            principal,
        };
        Ok(Response::new(pb::AvailableActionsResponse {
            actions: case::available_actions(&loaded.state, &ctx)
                .iter()
                .map(convert::availability)
                .collect(),
        }))
    }
}
