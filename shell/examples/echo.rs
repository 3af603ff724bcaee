//! The server's WebSocket transport with an echo in the engine's place
//! ([`signal_fish_server::echo`]), for the Autobahn|Testsuite (`shell/autobahn/run.sh`).
//!
//! `cargo run --release -p signal-fish-server --example echo -- 127.0.0.1:9001` echoes
//! every message sent to `ws://127.0.0.1:9001/v2/ws` until SIGINT or SIGTERM. Port 0
//! picks a free port; the first line printed names the address either way.
//!
//! The server's default configuration and transport limits, but one (README,
//! "Conformance"): messages up to 16 MiB, the suite's largest (the server's hard cap is
//! at most 1 MiB). `RUST_LOG=debug` logs each connection.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use signal_fish_server::echo::EchoServer;
use signal_fish_server::signals::Termination;
use signal_fish_server::{logging, Config};

/// The largest message echoed (16 MiB: Autobahn's section 9 sends that much).
const MAX_MESSAGE_BYTES: usize = 16 << 20;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let Ok(addr) = arg.parse::<SocketAddr>() else {
        eprintln!("usage: echo [ADDRESS:PORT] (default 127.0.0.1:9001); not an address: {arg:?}");
        return ExitCode::from(2);
    };
    let mut config = Config::default();
    config.logging.enable_file_logging = false;
    if let Err(error) = logging::init(&config.logging, std::env::var("RUST_LOG").ok().as_deref()) {
        eprintln!("warning: {error}");
    }
    let mut termination = match Termination::register() {
        Ok(termination) => termination,
        Err(error) => {
            eprintln!("error: cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let server = match EchoServer::bind(config, addr) {
        Ok(server) => server.with_max_message_bytes(MAX_MESSAGE_BYTES),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("echo: listening on ws://{}/v2/ws", server.local_addr());
    let _ = std::io::stdout().flush();
    let stop = server.shutdown_handle();
    smol::block_on(async {
        let running = smol::spawn(server.run());
        termination.recv().await;
        stop.shutdown();
        running.await;
    });
    ExitCode::SUCCESS
}
