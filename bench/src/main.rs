//! The `signal-fish-bench` binary: parse flags, run one scenario, print its lines.

use std::process::ExitCode;

use signal_fish_bench::cli::{self, Args};

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    match cli::run(&args) {
        Ok(summary) => {
            print!("{}", summary.render());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
