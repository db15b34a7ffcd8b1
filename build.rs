//! Compiles `proto/aspflow/v1/*.proto` with protox (pure Rust, no system `protoc`) and generates
//! the tonic/prost code plus an encoded descriptor set for gRPC server reflection.
//!
//! Also sets `cfg(aspflow_pg)` when the PostgreSQL tests should run (`DATABASE_URL` set and
//! non-empty, or `CI=true`): without it they are compiled with `#[ignore]` and `cargo test`
//! reports them as ignored, with the reason, instead of as passed.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // protox's `compile_fds` path does not print rerun-if-changed lines itself.
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=migrations");

    println!("cargo::rustc-check-cfg=cfg(aspflow_pg)");
    println!("cargo::rerun-if-env-changed=DATABASE_URL");
    println!("cargo::rerun-if-env-changed=CI");
    let database_url = env::var("DATABASE_URL").is_ok_and(|url| !url.is_empty());
    // In CI the tests run and fail without a database (tests/util): they never skip there.
    let ci = env::var("CI").is_ok_and(|v| v == "true");
    if database_url || ci {
        println!("cargo::rustc-cfg=aspflow_pg");
    }

    let mut files: Vec<PathBuf> = fs::read_dir("proto/aspflow/v1")?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();

    let fds = protox::compile(&files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("aspflow_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
