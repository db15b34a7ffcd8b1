//! The gRPC edge (tonic): builds the server from a bound listener and a store, and serves
//! `grpc.health.v1`, server reflection (v1 and v1alpha) and the `aspflow.v1` services.
//!
//! Handlers stay thin: convert the request, call the store or engine, map the error. The case
//! services join here as the engine lands; this module owns only transport concerns.

use std::future::Future;

use tokio::net::TcpListener;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::{
    pb::{
        self,
        server_server::{Server as ServerService, ServerServer},
    },
    store::{AnyStore, EventStore},
};

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The transport failed.
    #[error("gRPC transport error: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the embedded descriptors.
    #[error("reflection set-up failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// The `aspflow.v1.Server` service.
#[derive(Clone)]
pub struct ServerInfo {
    store: AnyStore,
}

#[tonic::async_trait]
impl ServerService for ServerInfo {
    async fn get_server_info(
        &self,
        _request: Request<pb::GetServerInfoRequest>,
    ) -> Result<Response<pb::GetServerInfoResponse>, Status> {
        let head_position = self.store.head_position().await.map_err(|e| {
            tracing::error!(error = %e, "reading the log head failed");
            Status::unavailable("the event log cannot be read right now; try again")
        })?;
        Ok(Response::new(pb::GetServerInfoResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.store.backend().to_owned(),
            head_position,
        }))
    }
}

/// Serves on `listener` until `shutdown` resolves; in-flight calls are allowed to finish.
///
/// # Errors
/// [`ServeError`] if the transport or the reflection set-up fails.
pub async fn run(
    listener: TcpListener,
    store: AnyStore,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<ServerServer<ServerInfo>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    tonic::transport::Server::builder()
        .add_service(health_svc)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ServerServer::new(ServerInfo { store }))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}
