//! The `mynorfolk` binary: everything lives in the library; see `cli.rs` for the commands.

use std::backtrace::BacktraceStatus;
use std::process::ExitCode;

fn main() -> ExitCode {
    match mynorfolk::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", mynorfolk::startup_error::explain(&error));
            // Only when RUST_BACKTRACE (or RUST_LIB_BACKTRACE) asked for one, after the sentence.
            if error.backtrace().status() == BacktraceStatus::Captured {
                eprintln!("\n{}", error.backtrace());
            }
            ExitCode::FAILURE
        }
    }
}
