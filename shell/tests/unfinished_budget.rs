//! Unfinished messages (fragments still to come) are bounded across all connections
//! (`websocket.unfinished_message_budget_bytes`, DECISIONS D39): a connection holds what
//! actually arrived, not what a header announced, and over the budget the connections
//! holding the most are closed first (1013), over real sockets.

mod support;

use std::io::Write as _;

use support::frames::{self, BINARY};
use support::{assert_service, eventually, fresh_ip, prom_metric, test_config, Client, TestServer};

const KIB: usize = 1024;

/// A client that announces a message of the hard cap and sends `sent` bytes of it.
fn start_message(server: &TestServer, sent: usize) -> Client {
    let cap = test_config().hard_message_cap();
    let mut client = Client::connect_from(server.addr, "/v2/ws", Some(&fresh_ip()));
    let mut bytes = frames::header(true, BINARY, cap as u64, true);
    bytes.extend(std::iter::repeat_n(7u8, sent));
    client.ws.get_mut().write_all(&bytes).unwrap();
    client
}

#[test]
fn an_announced_message_holds_only_what_arrived() {
    let server = TestServer::start(test_config());
    // Forty connections announce 256 KiB each and send 1 KiB: they hold about 40 KiB,
    // not 10 MiB.
    let _clients: Vec<Client> = (0..40).map(|_| start_message(&server, KIB)).collect();
    assert!(eventually(|| {
        let held = prom_metric(server.addr, "signal_fish_unfinished_message_bytes") as usize;
        (40 * KIB..=40 * 2 * KIB).contains(&held)
    }));
    assert_eq!(prom_metric(server.addr, "signal_fish_unfinished_evictions_total"), 0);
    assert_service(server.addr);
}

#[test]
fn over_the_budget_the_largest_holders_are_closed_first() {
    let budget = 512 * KIB;
    let mut config = test_config();
    config.websocket.unfinished_message_budget_bytes = budget;
    let server = TestServer::start(config);
    // Twelve small holders (8 KiB each), then eight large ones (96 KiB each): 864 KiB
    // announced-and-sent in all, over the 512 KiB budget.
    let mut small: Vec<Client> = (0..12).map(|_| start_message(&server, 8 * KIB)).collect();
    assert!(eventually(
        || prom_metric(server.addr, "signal_fish_unfinished_message_bytes") as usize >= 12 * 8 * KIB
    ));
    let mut large: Vec<Client> = (0..8).map(|_| start_message(&server, 96 * KIB)).collect();

    // Only large holders are closed, with 1013, until the rest fit.
    let mut closed_large = 0;
    for client in &mut large {
        client.ws.get_ref().set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
        if let Ok(tungstenite::Message::Close(Some(frame))) = client.ws.read() {
            assert_eq!(u16::from(frame.code), 1013);
            closed_large += 1;
        }
    }
    assert!(closed_large >= 4, "{closed_large} of 8 large holders closed");
    let held = prom_metric(server.addr, "signal_fish_unfinished_message_bytes") as usize;
    assert!(held <= budget, "{held} bytes held over a budget of {budget}");
    assert_eq!(prom_metric(server.addr, "signal_fish_unfinished_evictions_total"), closed_large);

    // The small holders were spared: each can still finish its message (one at a time,
    // once the large ones are gone, so finishing stays within the budget).
    drop(large);
    let cap = test_config().hard_message_cap();
    for client in &mut small {
        client.ws.get_mut().write_all(&vec![7u8; cap - 8 * KIB]).unwrap();
        // A binary message above the engine's message size is answered with an error,
        // which shows it arrived whole.
        let error = client.expect("Error");
        assert_eq!(error["error_code"], "MESSAGE_TOO_LARGE", "{error}");
    }
    assert!(eventually(|| prom_metric(server.addr, "signal_fish_unfinished_message_bytes") == 0));
    assert_service(server.addr);
}
