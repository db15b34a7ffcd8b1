//! aspflow: an event-sourced workflow engine for the ICC Assembly of States Parties'
//! procedures on non-cooperation (formal response after a Court referral; preventive good
//! offices before an imminent incident).
//!
//! # Layout
//! - [`store`]: the append-only, hash-chained event log on SQLite (embedded default) and
//!   PostgreSQL; knows envelopes, not procedures.
//! - [`clock`]: the only place that reads the system clock.
//! - [`api`]: the gRPC server (tonic): health, reflection and the aspflow.v1 services.
//! - [`cli`]: the `aspflow` command line (`serve`, `migrate`, `audit verify`).
//! - [`pb`]: code generated from `proto/aspflow/v1/*.proto` by build.rs.
//!
//! Dependency direction: `cli -> api -> store`; `store` depends on nothing of ours but `clock`.

pub mod api;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod console;
pub mod domain;
pub mod engine;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod store;

/// Generated protobuf and gRPC code for package `aspflow.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("aspflow.v1");

    /// The encoded descriptor set of every aspflow proto file, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/aspflow_descriptor.bin"));
}
