//! A client closed for not reading (1008) keeps its seat when it opted in to
//! reconnection, and gets every frame it never received replayed after `Reconnect`
//! (DECISIONS D16, D19), over real sockets with a queue filled to its limit.

mod support;

use serde_json::Value;
use support::{fresh_ip, prom_metric, test_config, Client, TestServer};
use tungstenite::Message;

/// The `n` of every `GameData` among `messages`, in order.
fn game_data_numbers<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Vec<u64> {
    messages
        .into_iter()
        .filter(|m| m["type"] == "GameData")
        .map(|m| m["data"]["data"]["n"].as_u64().expect("numbered game data"))
        .collect()
}

/// Fills a stalled player's queue with `payload_bytes`-sized game data until the server
/// closes it, then reconnects; asserts nothing was lost, duplicated or reordered and
/// that the other player never saw it leave.
fn replay_after_slow_consumer_close(payload_bytes: usize) {
    let server = TestServer::start(test_config());
    let mut talker = Client::connect_from(server.addr, "/v2/ws", Some(&fresh_ip()));
    let code = talker.join("replay", "Talker", None)["room_code"].as_str().unwrap().to_owned();
    let mut stalled = Client::connect_from(server.addr, "/v2/ws?reconnection_token=true", Some(&fresh_ip()));
    let joined = stalled.join("replay", "Stalled", Some(&code));
    talker.expect("PlayerJoined");
    let token = joined["reconnection_token"].as_str().expect("opted in").to_owned();
    let (player_id, room_id) = (joined["player_id"].clone(), joined["room_id"].clone());
    // Keep little on the client side, so the server's queue fills.
    socket2::SockRef::from(stalled.ws.get_ref()).set_recv_buffer_size(64 * 1024).unwrap();

    let pad = "x".repeat(payload_bytes);
    let closed = || prom_metric(server.addr, "signal_fish_slow_consumers_closed_total") == 1;
    // Messages that reach the server after the close are collected while away: keep
    // them well within the replay buffer's own limits (100 events, 1 MiB).
    let check_every = (40u64).min((256 * 1024 / payload_bytes) as u64).max(1);
    let mut sent = 0u64;
    while sent < 20_000 {
        talker.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{{"n":{sent},"pad":"{pad}"}}}}}}"#));
        sent += 1;
        if sent % check_every == 0 {
            // The server has processed everything sent so far (a Pong comes after it),
            // so few messages arrive after the close: those are collected while away,
            // within the replay buffer's own limits.
            talker.send_json(r#"{"type":"Ping"}"#);
            talker.expect("Pong");
            if closed() {
                break;
            }
        }
    }
    assert!(closed(), "the stalled client was never closed ({sent} messages sent)");
    // A few more while it is away: buffered for replay too (well under event_buffer_size).
    for _ in 0..10 {
        talker.send_json(&format!(r#"{{"type":"GameData","data":{{"data":{{"n":{sent},"pad":"{pad}"}}}}}}"#));
        sent += 1;
    }
    talker.send_json(r#"{"type":"Ping"}"#);
    talker.expect("Pong");

    // What reached the old socket before its close frame...
    let (close_code, before) = stalled.expect_close();
    assert_eq!(close_code, 1008);
    let before: Vec<Value> = before
        .iter()
        .filter_map(|m| match m {
            Message::Text(text) => Some(serde_json::from_str(text).unwrap()),
            _ => None,
        })
        .collect();

    // ...and what the reconnect replays.
    let mut resumed = Client::connect_from(server.addr, "/v2/ws?reconnection_token=true", Some(&fresh_ip()));
    resumed.send_json(
        &serde_json::json!({"type":"Reconnect","data":{"player_id":player_id,"room_id":room_id,"auth_token":token}})
            .to_string(),
    );
    let reconnected = resumed.expect("Reconnected");
    let missed = reconnected["missed_events"].as_array().expect("missed_events").clone();

    // The other player saw no departure, only the return.
    let back = talker.expect("PlayerReconnected");
    assert_eq!(back["player_id"], player_id);

    let mut all = game_data_numbers(&before);
    all.extend(game_data_numbers(&missed));
    let expected: Vec<u64> = (0..sent).collect();
    assert_eq!(all.len() as u64, sent, "{} before the close + {} replayed", before.len(), missed.len());
    assert_eq!(all, expected, "lost, duplicated or reordered");
    // The replay holds a whole outbound queue: more than the buffer's own limits allow
    // for events collected while away (which is what used to end the seat).
    let replayed_bytes: usize = missed.iter().map(|m| m.to_string().len()).sum();
    let config = test_config();
    assert!(
        missed.len() > config.server.event_buffer_size
            || replayed_bytes > config.websocket.max_outbound_queue_bytes,
        "{} events, {replayed_bytes} bytes replayed: the queue was not full",
        missed.len()
    );
    println!(
        "{payload_bytes} B payloads: {} received before the close, {} replayed",
        before.len(),
        missed.len()
    );

    // The seat works again.
    talker.send_json(r#"{"type":"GameData","data":{"data":{"n":"after"}}}"#);
    assert_eq!(resumed.expect("GameData")["data"]["n"], "after");
}

#[test]
fn a_slow_consumer_gets_everything_replayed_with_small_messages() {
    replay_after_slow_consumer_close(300);
}

#[test]
fn a_slow_consumer_gets_everything_replayed_with_large_messages() {
    replay_after_slow_consumer_close(20_000);
}
