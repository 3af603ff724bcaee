//! Embedding the Signal Fish server in a smol application.
//!
//! `cargo run -p signal-fish-server --example embedded` serves on 127.0.0.1:3536 next to
//! the application's own tasks until Ctrl-C.

use signal_fish_server::signals::Termination;
use signal_fish_server::{Config, Server};

fn main() {
    smol::block_on(async {
        let mut config = Config::default();
        config.server.default_max_players = 4;
        config.logging.enable_file_logging = false;
        let server = Server::bind(config, "127.0.0.1:3536".parse().unwrap()).expect("bind");
        println!("Signal Fish embedded on ws://{}/v2/ws (Ctrl-C stops)", server.local_addr());
        let stop = server.shutdown_handle();
        let mut termination = Termination::register().expect("signal handlers");
        let running = smol::spawn(server.run());

        // The application's own tasks run here, on the same runtime.

        termination.recv().await;
        stop.shutdown(); // closes every WebSocket with 1001
        running.await;
    });
}
