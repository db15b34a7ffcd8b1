//! `aspflow.v1.EventLog`: the whole log for integrators, catch-up then live, from the log only.
//!
//! Positions are gapless and assigned in commit order (see the store), so reading
//! `global_position >= next` in a loop delivers every event exactly once, in order, even across
//! nodes. The node's tail ([`crate::engine::tail`]) wakes a stream only when an event matching its
//! filter has been committed (by this node at once, by others within the tail's poll).

use std::time::Duration;

use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::{
    convert,
    status::Invalid,
    streams::{self, ResultStream},
    visibility,
};
use crate::{
    domain::{CaseId, Region},
    engine::{Engine, EngineError},
    pb::{self, event_log_server::EventLog, subscribe_response::Message},
    store::{EventStore, RecordedEvent, StreamId},
};

/// With a read store (a standby), how soon to read again when it is behind the primary.
const STANDBY_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// Events read from the log per query.
const PAGE: u32 = 500;

/// A checkpoint is sent at least this often while the log is idle, and after each batch.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// The service.
#[derive(Clone)]
pub struct EventLogService {
    engine: Engine,
    auth: super::auth::Auth,
    stop: watch::Receiver<bool>,
}

impl EventLogService {
    /// A service over `engine`; streams end when `stop` turns true.
    pub fn new(engine: Engine, auth: super::auth::Auth, stop: watch::Receiver<bool>) -> Self {
        EventLogService { engine, auth, stop }
    }
}

/// The requested State's region of each case a stream has met (for focal points' need to know;
/// a case's region never changes).
#[derive(Default)]
struct Regions(std::collections::HashMap<StreamId, Option<Region>>);

impl Regions {
    async fn of(&mut self, engine: &Engine, stream: StreamId) -> Option<Region> {
        if let Some(r) = self.0.get(&stream) {
            return *r;
        }
        let region = match engine.current(CaseId(stream.0)).await {
            Ok((state, _)) => state
                .describe()
                .and_then(|d| d.facts.map(|f| f.requested_state.region)),
            Err(_) => None,
        };
        self.0.insert(stream, region);
        region
    }
}

struct Filter {
    types: Vec<String>,
    cases: Vec<String>,
    procedure: Option<String>,
}

impl Filter {
    fn matches(&self, e: &RecordedEvent) -> bool {
        (self.types.is_empty() || self.types.contains(&e.event_type))
            && (self.cases.is_empty() || self.cases.contains(&e.stream.to_string()))
            && self
                .procedure
                .as_ref()
                .is_none_or(|p| e.event_type.split('.').next() == Some(p.as_str()))
    }
}

#[tonic::async_trait]
impl EventLog for EventLogService {
    type SubscribeStream = ResultStream<pb::SubscribeResponse>;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let principal = self
            .auth
            .authorize(&req, "/aspflow.v1.EventLog/Subscribe")
            .await?;
        super::limits::check("SubscribeRequest", req.get_ref())?;
        let r = req.into_inner();
        let mut cases = Vec::new();
        for (i, c) in r.case_ids.iter().enumerate() {
            cases.push(convert::case_id(&format!("case_ids[{i}]"), c)?.to_string());
        }
        let procedure = (!r.procedure.trim().is_empty()).then(|| r.procedure.trim().to_owned());
        if let Some(p) = &procedure
            && !["formal", "preventive", "roster", "interpretative"].contains(&p.as_str())
        {
            return Err(Invalid::new("procedure", "formal, preventive or roster").into());
        }
        let filter = Filter {
            types: r.event_types,
            cases,
            procedure,
        };
        let (mut tx, stream) = streams::bounded(self.stop.clone());
        let engine = self.engine.clone();
        let mut next = r.from_position.max(1);
        let filter = std::sync::Arc::new(filter);
        // Registered before the first read, so that no commit falls between the two.
        let interest = {
            let filter = filter.clone();
            engine.tail().register(move |e| filter.matches(e))
        };
        let slot = self.auth.stream_slot(&principal)?;
        let head = engine.subscribe_head();
        let lag = crate::metrics::SubscriptionLag::open(&principal.subject);
        tokio::spawn(async move {
            let _slot = slot;
            let _open = crate::metrics::OpenStream::new("subscribe");
            let mut regions = Regions::default();
            let mut last_checkpoint = tokio::time::Instant::now();
            loop {
                // The tail's ring when it still holds `next`, else the log itself; with a
                // read store (a standby) always the read store.
                let ring = if engine.reads_elsewhere() {
                    None
                } else {
                    engine.tail().recent(next, PAGE as usize)
                };
                let page: Vec<std::sync::Arc<RecordedEvent>> = match ring {
                    Some(recent) => recent,
                    None => match engine.read_store().read_all(next, PAGE).await {
                        Ok(p) => p.into_iter().map(std::sync::Arc::new).collect(),
                        Err(e) => {
                            let _ = tx.send(Err(EngineError::from(e).into())).await;
                            return;
                        }
                    },
                };
                let full = page.len() == PAGE as usize;
                let scanned = !page.is_empty();
                for e in page {
                    next = e.global_position + 1;
                    if filter.matches(&e) {
                        let seen = match visibility::needs_to_know(&principal, None) {
                            // Roles that see every confidential act need no case look-up.
                            true => convert::event(&e),
                            false => {
                                let region = regions.of(&engine, e.stream).await;
                                visibility::event_for(&principal, region, &e)
                            }
                        };
                        let msg = pb::SubscribeResponse {
                            message: Some(Message::Event(seen)),
                        };
                        if tx.send(Ok(msg)).await.is_err() {
                            return;
                        }
                    }
                }
                // The head as this node knows it: its own commits and, through its log
                // follower, other nodes'.
                let known = (*head.borrow()).max(engine.tail().head());
                let behind = known.saturating_sub(next - 1);
                lag.set(behind);
                if full {
                    continue;
                }
                if scanned || last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    let msg = pb::SubscribeResponse {
                        message: Some(Message::Checkpoint(pb::Checkpoint { position: next - 1 })),
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        return;
                    }
                    last_checkpoint = tokio::time::Instant::now();
                }
                // A standby that has not yet replayed what the primary committed: look again
                // shortly instead of waiting for the next commit.
                if engine.reads_elsewhere() && behind > 0 {
                    tokio::select! {
                        _ = tokio::time::sleep(STANDBY_RETRY) => {}
                        _ = tx.closed() => return,
                    }
                    continue;
                }
                // Wakes for a matching event, or to send the idle checkpoint.
                tokio::select! {
                    _ = interest.notified() => {}
                    _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(stream))
    }
}
