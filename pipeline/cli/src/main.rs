//! The `fidelis` binary. All logic lives in the library (`fidelis_cli`).

fn main() -> std::process::ExitCode {
    fidelis_cli::main()
}
