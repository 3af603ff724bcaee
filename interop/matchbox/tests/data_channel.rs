//! Two native `matchbox_socket` peers join one room on the mesh port of an in-process
//! Signal Fish server, open a reliable WebRTC data channel on loopback (host candidates
//! only: no STUN server) and exchange one message each way.

use std::time::Duration;

use matchbox_socket::{PeerState, RtcIceServerConfig, WebRtcSocket};
use signal_fish_server::{Config, Server};

/// Runs one peer until it has received the other's message; returns that message.
async fn peer(url: String, name: &'static str) -> String {
    let (mut socket, message_loop) = WebRtcSocket::builder(url)
        // Loopback needs no STUN, and tests must not reach the internet.
        .ice_server(RtcIceServerConfig { urls: vec![], username: None, credential: None })
        .add_reliable_channel()
        .build();
    let message_loop = tokio::spawn(message_loop);
    let mut sent = false;
    loop {
        for (id, state) in socket.update_peers() {
            if state == PeerState::Connected && !sent {
                let packet = format!("hello from {name}").into_bytes().into();
                socket.channel_mut(0).send(packet, id);
                sent = true;
            }
        }
        if let Some((_, packet)) = socket.channel_mut(0).receive().into_iter().next() {
            // Let our own message leave before the socket goes.
            tokio::time::sleep(Duration::from_millis(500)).await;
            message_loop.abort();
            return String::from_utf8_lossy(&packet).into_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_native_peers_exchange_a_message_over_a_data_channel() {
    let mut config = Config::default();
    config.logging.enable_file_logging = false;
    config.mesh.enabled = true;
    let server = Server::bind(config, "127.0.0.1:0".parse().unwrap()).expect("bind");
    let mesh = server.mesh_addr().expect("mesh port");
    let stop = server.shutdown_handle();
    let thread = std::thread::spawn(move || smol::block_on(server.run()));

    let url = format!("ws://{mesh}/interop");
    let exchange = async {
        let a = tokio::spawn(peer(url.clone(), "a"));
        let b = tokio::spawn(peer(url, "b"));
        (a.await.unwrap(), b.await.unwrap())
    };
    let (a_got, b_got) =
        tokio::time::timeout(Duration::from_secs(60), exchange).await.expect("data channel within 60 s");
    assert_eq!(a_got, "hello from b");
    assert_eq!(b_got, "hello from a");

    stop.shutdown();
    thread.join().unwrap();
}
