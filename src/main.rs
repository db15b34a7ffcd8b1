//! The `aspflow` binary: parses the command line and hands over to [`aspflow::cli::run`].

/// mimalloc rather than glibc's malloc: see Cargo.toml and docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    aspflow::cli::main()
}
