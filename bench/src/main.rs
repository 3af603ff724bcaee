//! The `signal-fish-bench` binary: parse flags, run one scenario, print its lines.

use std::process::ExitCode;

use argh::FromArgs;
use signal_fish_bench::cli::{self, Args};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    let args = match Args::from_args(&["signal-fish-bench"], &rest) {
        Ok(args) => args,
        Err(exit) if exit.status.is_ok() => {
            println!("{}", exit.output.trim_end());
            return ExitCode::SUCCESS;
        }
        Err(exit) => {
            eprintln!("{}\nRun signal-fish-bench --help for more information.", exit.output.trim_end());
            return ExitCode::from(2);
        }
    };
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
