//! `aspflow.v1.EventLog`: the whole log for integrators, catch-up then live, from the log only.
//!
//! Positions are gapless and assigned in commit order (see the store), so reading
//! `global_position >= next` in a loop delivers every event exactly once, in order, even across
//! nodes. This node's commits wake the loop at once; others' are seen within [`POLL`].

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status};

use super::{
    cases::{POLL, ResultStream, channel_stream},
    convert,
    status::Invalid,
};
use crate::{
    engine::{Engine, EngineError},
    pb::{self, event_log_server::EventLog, subscribe_response::Message},
    store::{EventStore, RecordedEvent},
};

/// A checkpoint is sent at least this often while the log is idle, and after each batch.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// The service.
#[derive(Clone)]
pub struct EventLogService {
    engine: Engine,
    stop: watch::Receiver<bool>,
}

impl EventLogService {
    /// A service over `engine`; streams end when `stop` turns true.
    pub fn new(engine: Engine, stop: watch::Receiver<bool>) -> Self {
        EventLogService { engine, stop }
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
        let (tx, rx) = mpsc::channel(256);
        let engine = self.engine.clone();
        let mut stop = self.stop.clone();
        let mut next = r.from_position.max(1);
        tokio::spawn(async move {
            let mut head = engine.subscribe_head();
            let mut last_checkpoint = tokio::time::Instant::now();
            loop {
                let page = match engine.store().read_all(next, 500).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(EngineError::from(e).into())).await;
                        return;
                    }
                };
                let full = page.len() == 500;
                let scanned = !page.is_empty();
                for e in page {
                    next = e.global_position + 1;
                    if filter.matches(&e) {
                        let msg = pb::SubscribeResponse {
                            message: Some(Message::Event(convert::event(&e))),
                        };
                        if tx.send(Ok(msg)).await.is_err() {
                            return;
                        }
                    }
                }
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
                tokio::select! {
                    _ = head.changed() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(channel_stream(rx)))
    }
}
