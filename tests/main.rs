//! aspflow's one integration-test binary (STYLE.md habit 10): every module below runs against
//! real databases. PostgreSQL tests need `DATABASE_URL`; with `CI=true` a missing or
//! unreachable PostgreSQL fails them instead of skipping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report
mod audit;
mod cli;
mod domain;
mod e2e;
mod hardening;
mod store;
mod util;
