//! aspflow's one integration-test binary (STYLE.md habit 10): every module below runs against
//! real databases. PostgreSQL tests need `DATABASE_URL`: without it they are compiled with
//! `#[ignore]` (build.rs sets `cfg(aspflow_pg)`), so `cargo test` reports them as ignored;
//! with `CI=true` they always run, and a missing or unreachable PostgreSQL fails them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report
mod audit;
mod cli;
mod console;
mod contract;
mod domain;
mod e2e;
mod hardening;
mod identity;
mod ops;
mod store;
mod tls;
mod util;
