//! `aspflow.v1.Audit`: signed checkpoints, verification and case exports.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tonic::{Request, Response, Status};

use super::streams::{self, ResultStream};
use crate::{
    audit::{self, CheckpointError, export},
    engine::{Engine, EngineError},
    pb::{self, audit_server::Audit},
    store::{CheckpointQuery, EventStore, StreamId, VerifyReport, chain},
};

/// The service.
#[derive(Clone)]
pub struct AuditService {
    engine: Engine,
    auth: super::auth::Auth,
    key: Option<Arc<SigningKey>>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl AuditService {
    /// A service over `engine`, signing with `key` (checkpoints are refused without one);
    /// export streams end when `stop` turns true.
    pub fn new(
        engine: Engine,
        auth: super::auth::Auth,
        key: Option<Arc<SigningKey>>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        AuditService {
            engine,
            auth,
            key,
            stop,
        }
    }

    fn key(&self) -> Result<&SigningKey, Status> {
        self.key.as_deref().ok_or_else(|| {
            Status::failed_precondition("this server has no checkpoint signing key configured")
        })
    }

    async fn checkpoint(&self) -> Result<audit::Checkpoint, Status> {
        let key = self.key()?;
        audit::take_checkpoint(self.engine.store(), key, self.engine.clock().now())
            .await
            .map_err(|e| match e {
                CheckpointError::Broken(b) => {
                    tracing::error!(%b, "refusing to sign a broken log");
                    Status::failed_precondition(format!(
                        "the log is not intact, refusing to sign: {b}"
                    ))
                }
                CheckpointError::Store(s) => EngineError::from(s).into(),
            })
    }
}

fn verify_response(r: VerifyReport) -> pb::VerifyResponse {
    let mut out = pb::VerifyResponse {
        intact: r.is_intact(),
        events_checked: r.events_checked,
        ..Default::default()
    };
    if let Some(b) = r.first_break {
        out.case_id = b.stream.to_string();
        out.version = b.version;
        out.global_position = b.global_position;
        out.kind = serde_json::to_value(&b.kind)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default();
        out.detail = b.to_string();
    }
    out
}

#[tonic::async_trait]
impl Audit for AuditService {
    async fn get_checkpoint(
        &self,
        req: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::SignedCheckpoint>, Status> {
        let caller = self
            .auth
            .authorize(&req, "/aspflow.v1.Audit/GetCheckpoint")
            .await?;
        self.auth.admit_scan(&caller)?;
        let cp = self.checkpoint().await?;
        Ok(Response::new(pb::SignedCheckpoint {
            checkpoint_json: serde_json::to_string_pretty(&cp)
                .map_err(|e| Status::internal(e.to_string()))?,
            head_position: cp.head_position,
            public_key: cp.public_key,
        }))
    }

    async fn get_public_key(
        &self,
        req: Request<pb::GetPublicKeyRequest>,
    ) -> Result<Response<pb::PublicKey>, Status> {
        self.auth
            .authorize(&req, "/aspflow.v1.Audit/GetPublicKey")
            .await?;
        Ok(Response::new(pb::PublicKey {
            hex: hex::encode(self.key()?.verifying_key().as_bytes()),
        }))
    }

    async fn verify_case(
        &self,
        req: Request<pb::VerifyCaseRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        self.auth
            .authorize(&req, "/aspflow.v1.Audit/VerifyCase")
            .await?;
        super::limits::check("VerifyCaseRequest", req.get_ref())?;
        let id = self.engine.resolve(req.get_ref().case_id.trim()).await?;
        let report = chain::verify_stream(self.engine.store(), StreamId(id.0))
            .await
            .map_err(EngineError::from)?;
        if report.events_checked == 0 {
            return Err(EngineError::NotFound(id.to_string()).into());
        }
        Ok(Response::new(verify_response(report)))
    }

    async fn verify_log(
        &self,
        req: Request<pb::VerifyLogRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        let caller = self
            .auth
            .authorize(&req, "/aspflow.v1.Audit/VerifyLog")
            .await?;
        self.auth.admit_scan(&caller)?;
        let report = chain::verify_log(self.engine.store())
            .await
            .map_err(EngineError::from)?;
        Ok(Response::new(verify_response(report)))
    }

    type ExportCaseStream = ResultStream<pb::ExportLine>;

    async fn list_checkpoints(
        &self,
        req: Request<pb::ListCheckpointsRequest>,
    ) -> Result<Response<pb::ListCheckpointsResponse>, Status> {
        self.auth
            .authorize(&req, "/aspflow.v1.Audit/ListCheckpoints")
            .await?;
        super::limits::check("ListCheckpointsRequest", req.get_ref())?;
        let r = req.into_inner();
        let public_key = r.public_key.trim().to_ascii_lowercase();
        if !public_key.is_empty()
            && (public_key.len() != 64 || !public_key.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(super::status::Invalid::new(
                "public_key",
                "an Ed25519 public key: 64 hex digits, as GetPublicKey returns",
            )
            .into());
        }
        if r.page_size > 100 {
            return Err(super::status::Invalid::new("page_size", "1 to 100 (0 means 10)").into());
        }
        let limit = if r.page_size == 0 { 10 } else { r.page_size };
        let rows = self
            .engine
            .store()
            .stored_checkpoints(&CheckpointQuery {
                public_key: (!public_key.is_empty()).then_some(public_key),
                period: None,
                before_id: (r.before_id > 0).then_some(r.before_id),
                limit: limit + 1,
            })
            .await
            .map_err(EngineError::from)?;
        let more = rows.len() > limit as usize;
        let page: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_before_id = if more {
            page.last().map_or(0, |c| c.id)
        } else {
            0
        };
        Ok(Response::new(pb::ListCheckpointsResponse {
            checkpoints: page
                .into_iter()
                .map(|c| pb::StoredCheckpoint {
                    id: c.id,
                    period: c.period,
                    checkpoint: Some(pb::SignedCheckpoint {
                        checkpoint_json: c.checkpoint_json,
                        head_position: c.head_position,
                        public_key: c.public_key,
                    }),
                })
                .collect(),
            next_before_id,
        }))
    }

    async fn export_case(
        &self,
        req: Request<pb::ExportCaseRequest>,
    ) -> Result<Response<Self::ExportCaseStream>, Status> {
        let caller = self
            .auth
            .authorize(&req, "/aspflow.v1.Audit/ExportCase")
            .await?;
        super::limits::check("ExportCaseRequest", req.get_ref())?;
        let slot = self.auth.stream_slot(&caller)?;
        let id = self.engine.resolve(req.get_ref().case_id.trim()).await?;
        let checkpoint = match self.key {
            Some(_) => {
                // The export's checkpoint scans the whole log.
                self.auth.admit_scan(&caller)?;
                Some(self.checkpoint().await?)
            }
            None => None,
        };
        let lines = export::export_lines(
            self.engine.store(),
            StreamId(id.0),
            self.engine.clock().now(),
            checkpoint,
        )
        .await
        .map_err(EngineError::from)?;
        if lines.len() < 2 {
            return Err(EngineError::NotFound(id.to_string()).into());
        }
        let (mut tx, stream) = streams::bounded(self.stop.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let _open = crate::metrics::OpenStream::new("export_case");
            for json in lines {
                if tx.send(Ok(pb::ExportLine { json })).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }
}
