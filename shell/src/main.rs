//! The `signal-fish-server` binary: flags, configuration, logging, signals, then the
//! server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use signal_fish_server::cli::{self, Command, Parsed, EXIT_CONFIG, EXIT_USAGE};
use signal_fish_server::config::{self, LoadOptions};
use signal_fish_server::signals::Termination;
use signal_fish_server::{logging, Server};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let command = match cli::parse(&args) {
        Parsed::Run(command) => command,
        Parsed::Help(text) => {
            println!("{}", text.trim_end());
            return ExitCode::SUCCESS;
        }
        Parsed::Usage(text) => {
            eprintln!("{text}");
            return exit(EXIT_USAGE);
        }
    };
    match command {
        Command::Version => {
            println!("{}", cli::version_line());
            ExitCode::SUCCESS
        }
        Command::Print { config_path } => {
            match options(config_path).and_then(|o| config::load_unvalidated(&o)) {
                Ok(loaded) => {
                    print!("{}", cli::print_config(&loaded.config));
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("Error: {error}");
                    exit(EXIT_CONFIG)
                }
            }
        }
        Command::Validate { config_path } => match options(config_path).and_then(|o| config::load(&o)) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("Warning: {warning}");
                }
                print!("{}", cli::validation_summary(&loaded.config));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("Configuration validation failed:\n{error}");
                exit(EXIT_CONFIG)
            }
        },
        Command::Serve { config_path, record } => serve(config_path, record),
    }
}

fn options(config_path: Option<PathBuf>) -> Result<LoadOptions, config::LoadError> {
    LoadOptions::from_process(config_path)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn serve(config_path: Option<PathBuf>, record: Option<PathBuf>) -> ExitCode {
    let mut termination = match Termination::register() {
        Ok(termination) => termination,
        Err(error) => {
            eprintln!("Error: cannot install signal handlers: {error}");
            return exit(EXIT_CONFIG);
        }
    };
    let mut loaded = match options(config_path).and_then(|o| config::load(&o)) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("Error: {error}");
            return exit(EXIT_CONFIG);
        }
    };
    if let Some(dir) = record {
        loaded.config.recorder.enabled = true;
        loaded.config.recorder.dir = dir.to_string_lossy().into_owned();
    }
    let rust_log = std::env::var("RUST_LOG").ok();
    match logging::init(&loaded.config.logging, rust_log.as_deref()) {
        Ok(notes) => notes.iter().for_each(|note| tracing::warn!("{note}")),
        Err(error) => eprintln!("Warning: {error}"),
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let addr = SocketAddr::from(([0, 0, 0, 0], loaded.config.port));
    let server = match Server::bind(loaded.config.clone(), addr) {
        Ok(server) => server,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            eprintln!("Error: {error}");
            return exit(EXIT_CONFIG);
        }
    };
    tracing::info!(
        "Signal Fish server {} listening on {} (WebSocket ws://{}/v2/ws); config: {}",
        env!("CARGO_PKG_VERSION"),
        server.local_addr(),
        server.local_addr(),
        loaded.describe(),
    );
    if let Some(mesh) = server.mesh_addr() {
        tracing::info!("matchbox full-mesh signaling on {mesh} (ws://{mesh}/ROOM, ws://{mesh}/ROOM?next=N)");
    }
    let stop = server.shutdown_handle();
    // Signals wait on a thread of their own: raced with the server, the signal socket
    // would be polled on every wake-up of the server. This thread only parks (it does
    // not run the I/O reactor); the server's thread delivers the signal's readiness.
    let signals = std::thread::Builder::new().name("signals".to_owned()).spawn(move || {
        if let Some(signal) = smol::future::block_on(termination.recv()) {
            tracing::info!(signal, "received signal, shutting down");
            stop.shutdown();
        }
    });
    if let Err(error) = signals {
        eprintln!("Error: cannot start the signal thread: {error}");
        return exit(EXIT_CONFIG);
    }
    smol::block_on(server.run());
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
