//! The `aspflow` binary: parses the command line and hands over to [`aspflow::cli::run`].

fn main() -> std::process::ExitCode {
    aspflow::cli::main()
}
