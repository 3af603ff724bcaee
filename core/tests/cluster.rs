//! Cluster mode over the simulated directory and carrier (`testkit::SimCluster`,
//! DECISIONS D58): clients on different nodes get exactly what a single server sends
//! them; racing claims end in one room; a killed node, a shut-down node and a directory
//! outage each end the way the README says.

use std::time::Duration;

use proptest::prelude::*;
use signal_fish_core::testkit::{comparable, first_difference, SimCluster, Transcript};
use signal_fish_core::{close_code, Config, ConnId};

fn join(code: &str, name: &str, max: u8) -> String {
    format!(
        r#"{{"type":"JoinRoom","data":{{"game_name":"g","room_code":"{code}","player_name":"{name}","max_players":{max}}}}}"#
    )
}

fn spectate(code: &str, name: &str) -> String {
    format!(
        r#"{{"type":"JoinAsSpectator","data":{{"game_name":"g","room_code":"{code}","spectator_name":"{name}"}}}}"#
    )
}

fn game_data(n: u32) -> String {
    format!(r#"{{"type":"GameData","data":{{"data":{{"n":{n}}}}}}}"#)
}

const READY: &str = r#"{"type":"PlayerReady"}"#;
const LEAVE: &str = r#"{"type":"LeaveRoom"}"#;
const AUTHORITY: &str = r#"{"type":"AuthorityRequest","data":{"become_authority":true}}"#;

/// One client action of a script: which client (its node is `client % nodes`), and what.
#[derive(Clone, Debug)]
enum Step {
    Open(usize),
    Send(usize, String),
    /// Several messages from one client at once: the later ones arrive while the first
    /// may still wait for the directory.
    Burst(usize, Vec<String>),
    Close(usize),
    Wait(Duration),
}

/// Runs `script` with client `i` on node `i % nodes` (a single engine when `nodes` is
/// 0) and returns every client's transcript, in client order. After each step time
/// moves on by sixteen times `delay` (in the single engine too, so clocks agree).
fn run(script: &[Step], nodes: usize, delay: Duration, seed: u64) -> Result<Vec<Transcript>, String> {
    let mut cluster = if nodes == 0 {
        SimCluster::single(Config::default(), seed)
    } else {
        SimCluster::new(nodes, Config::default(), seed, delay)
    };
    let place = |client: usize| if nodes == 0 { 0 } else { client % nodes };
    let mut clients = 0;
    for step in script {
        match step {
            Step::Open(c) => {
                cluster.open(place(*c), ConnId(*c as u64 + 1), [10, 0, 0, *c as u8 + 1])?;
                clients = clients.max(*c + 1);
            }
            Step::Send(c, text) => cluster.text(place(*c), ConnId(*c as u64 + 1), text)?,
            Step::Burst(c, texts) => {
                for text in texts {
                    cluster.text(place(*c), ConnId(*c as u64 + 1), text)?;
                }
            }
            Step::Close(c) => cluster.close(place(*c), ConnId(*c as u64 + 1))?,
            Step::Wait(by) => cluster.advance(*by)?,
        }
        // Every answer and forwarded message arrives before the next client acts, as
        // the single server answers before it: a query, then a chain of hand-overs
        // (of a few hops) out and back.
        cluster.advance(delay * 16)?;
    }
    Ok((0..clients).map(|c| cluster.transcript(place(c), ConnId(c as u64 + 1))).collect())
}

fn lifecycle() -> Vec<Step> {
    use Step::*;
    vec![
        Open(0),
        Open(1),
        Open(2),
        Open(3),
        Send(0, join("ABCDEF", "Ann", 3)),
        Send(1, join("ABCDEF", "Bob", 3)),
        Send(3, spectate("ABCDEF", "Sam")),
        Send(2, join("ABCDEF", "Cid", 3)),
        Send(0, READY.to_owned()),
        Send(1, READY.to_owned()),
        Send(2, READY.to_owned()),
        Send(1, AUTHORITY.to_owned()),
        Send(0, game_data(1)),
        Send(2, game_data(2)),
        Send(1, game_data(3)),
        Send(1, LEAVE.to_owned()),
        Send(1, join("ABCDEF", "Bob", 3)),
        Close(2),
        Wait(Duration::from_secs(1)),
        Send(0, game_data(4)),
    ]
}

#[test]
fn clients_on_three_nodes_get_exactly_what_one_server_sends() {
    for delay in [Duration::ZERO, Duration::from_millis(3)] {
        let single = run(&lifecycle(), 0, delay, 7).unwrap();
        let clustered = run(&lifecycle(), 3, delay, 7).unwrap();
        assert_eq!(comparable(&clustered), comparable(&single), "delay {delay:?}");
    }
    let single = run(&lifecycle(), 0, Duration::ZERO, 7).unwrap();
    // The script reaches every stage: the spectator saw the game data, and the last
    // relay reached the player who rejoined through another node.
    let texts = |t: &Transcript| t.messages.join("\n");
    assert!(texts(&single[3]).contains("\"n\":3"), "{}", texts(&single[3]));
    assert!(texts(&single[1]).contains("\"n\":4"), "{}", texts(&single[1]));
    assert!(texts(&single[0]).contains("GameStarting"), "{}", texts(&single[0]));
}

#[test]
fn a_cluster_run_is_deterministic() {
    // The same seed and script give byte-identical transcripts (ids, codes, tokens and
    // all), so any cluster failure replays exactly.
    let delay = Duration::from_millis(2);
    let first = run(&lifecycle(), 3, delay, 21).unwrap();
    let second = run(&lifecycle(), 3, delay, 21).unwrap();
    assert_eq!(first, second);
    assert_ne!(run(&lifecycle(), 3, delay, 22).unwrap(), first, "the seed matters");
}

#[test]
fn two_nodes_racing_for_one_code_make_one_room_with_both_players() {
    let mut cluster = SimCluster::new(2, Config::default(), 3, Duration::from_millis(5));
    cluster.open(0, ConnId(1), [10, 0, 0, 1]).unwrap();
    cluster.open(1, ConnId(2), [10, 0, 0, 2]).unwrap();
    // Both ask before either answer arrives.
    cluster.text(0, ConnId(1), &join("RACE42", "Ann", 4)).unwrap();
    cluster.text(1, ConnId(2), &join("RACE42", "Bob", 4)).unwrap();
    cluster.advance(Duration::from_millis(50)).unwrap();
    let rooms: Vec<_> = (0..2).flat_map(|n| cluster.engine(n).rooms()).collect();
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    assert_eq!(rooms[0].players.len(), 2);
    for (node, conn) in [(0, ConnId(1)), (1, ConnId(2))] {
        let first = &cluster.transcript(node, conn).messages[0];
        assert!(first.contains("RoomJoined") && first.contains(&rooms[0].room_id.to_string()), "{first}");
    }
}

#[test]
fn generated_codes_are_claimed_and_remote_players_join_by_them() {
    let mut cluster = SimCluster::new(2, Config::default(), 11, Duration::from_millis(2));
    cluster.open(0, ConnId(1), [10, 0, 0, 1]).unwrap();
    cluster.open(1, ConnId(2), [10, 0, 0, 2]).unwrap();
    cluster
        .text(0, ConnId(1), r#"{"type":"JoinRoom","data":{"game_name":"g","player_name":"Ann"}}"#)
        .unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    let room = cluster.engine(0).rooms().remove(0);
    cluster.text(1, ConnId(2), &join(&room.code, "Bob", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(0).rooms()[0].players.len(), 2);
    assert_eq!(cluster.engine(1).rooms().len(), 0);
    assert_eq!(cluster.engine(1).forwarded_count(), 1);
    assert_eq!(cluster.engine(0).adopted_count(), 1);
}

#[test]
fn a_client_handed_on_twice_leaves_nothing_behind_on_any_node_when_it_closes() {
    let mut cluster = SimCluster::new(3, Config::default(), 11, Duration::from_millis(2));
    for (node, conn) in [(0, 1), (1, 2), (2, 3)] {
        cluster.open(node, ConnId(conn), [10, 0, 0, conn as u8]).unwrap();
    }
    cluster.text(1, ConnId(2), &join("ONNODE", "Bob", 4)).unwrap();
    cluster.text(2, ConnId(3), &join("TWONOD", "Cid", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    // Ann's socket is on node 0: her room is on node 1, then, leaving it, on node 2, so
    // node 1 passes her inputs on to node 2.
    cluster.text(0, ConnId(1), &join("ONNODE", "Ann", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.text(0, ConnId(1), LEAVE).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.text(0, ConnId(1), &join("TWONOD", "Ann", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(2).rooms()[0].players.len(), 2);
    assert_eq!(cluster.engine(1).forwarded_count(), 1, "node 1 passes Ann on");
    cluster.close(0, ConnId(1)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    for node in 0..3 {
        let engine = cluster.engine(node);
        assert_eq!(
            (engine.connection_count(), engine.forwarded_count(), engine.adopted_count()),
            (1 - usize::from(node == 0), 0, 0),
            "node {node} still holds Ann's connection"
        );
    }
    assert_eq!(cluster.engine(2).rooms()[0].players.len(), 1);
}

#[test]
fn a_hand_over_past_the_owners_caps_is_refused_as_a_connection_would_be() {
    let mut config = Config::default();
    config.security.max_connections_per_ip = 1;
    let mut cluster = SimCluster::new(2, config, 13, Duration::from_millis(2));
    // Two players behind one address, one socket on each node: each edge admits its one.
    cluster.open(0, ConnId(1), [10, 0, 0, 7]).unwrap();
    cluster.open(1, ConnId(2), [10, 0, 0, 7]).unwrap();
    cluster.text(1, ConnId(2), &join("CAPPED", "Bob", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.text(0, ConnId(1), &join("CAPPED", "Ann", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    // Node 1 would hold two connections from that address: it refuses Ann's.
    assert_eq!(cluster.transcript(0, ConnId(1)).closed, Some(close_code::POLICY));
    assert_eq!((cluster.engine(1).adopted_count(), cluster.engine(0).forwarded_count()), (0, 0));
    assert_eq!(cluster.engine(1).rooms()[0].players.len(), 1);
    assert_eq!(cluster.engine(0).connection_count(), 0);
}

#[test]
fn a_claim_given_back_by_one_join_stays_with_another_join_waiting_for_it() {
    let mut cluster = SimCluster::new(2, Config::default(), 17, Duration::from_millis(2));
    for (node, conn) in [(0, 1), (0, 2), (1, 3)] {
        cluster.open(node, ConnId(conn), [10, 0, 0, conn as u8]).unwrap();
    }
    // Two clients of node 0 ask for one new code at once; the first goes away before
    // the directory answers, so its claim is unused; the second makes the room.
    cluster.text(0, ConnId(1), &join("SHARED", "Ann", 4)).unwrap();
    cluster.text(0, ConnId(2), &join("SHARED", "Bob", 4)).unwrap();
    cluster.close(0, ConnId(1)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(0).rooms()[0].players.len(), 1);
    // The code is still node 0's: a client of node 1 joins that room, not a new one.
    cluster.text(1, ConnId(3), &join("SHARED", "Cid", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(1).rooms().len(), 0, "node 1 made a second room SHARED");
    assert_eq!(cluster.engine(0).rooms()[0].players.len(), 2);
}

#[test]
fn spectating_a_name_or_code_no_join_accepts_asks_no_directory() {
    let mut cluster = SimCluster::new(2, Config::default(), 19, Duration::from_millis(2));
    cluster.open(1, ConnId(1), [10, 0, 0, 1]).unwrap();
    let long_code = "Q".repeat(2_000);
    let bad_code = format!(
        r#"{{"type":"JoinAsSpectator","data":{{"game_name":"g","room_code":"{long_code}","spectator_name":"Sam"}}}}"#
    );
    let bad_game = r#"{"type":"JoinAsSpectator","data":{"game_name":"no/such:game","room_code":"ABCDEF","spectator_name":"Sam"}}"#;
    for request in [bad_code.as_str(), bad_game] {
        cluster.text(1, ConnId(1), request).unwrap();
        cluster.advance(Duration::from_millis(20)).unwrap();
        let answer = cluster.transcript(1, ConnId(1)).messages.last().cloned().unwrap();
        assert!(answer.contains("SpectatorJoinFailed") && answer.contains("Room not found"), "{answer}");
    }
    assert_eq!(cluster.engine(1).cluster_stats().queries, 0);
    // A code a join could have made is looked up as before.
    cluster.text(1, ConnId(1), &spectate("ABCDEF", "Sam")).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(1).cluster_stats().queries, 1);
}

#[test]
fn a_killed_node_closes_its_remote_members_after_the_lease_and_frees_its_codes() {
    let lease = Duration::from_secs(5);
    let mut cluster = SimCluster::new(2, Config::default(), 5, Duration::from_millis(2));
    cluster.open(0, ConnId(1), [10, 0, 0, 1]).unwrap();
    cluster.open(1, ConnId(2), [10, 0, 0, 2]).unwrap();
    cluster.text(0, ConnId(1), &join("KILLME", "Ann", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.text(1, ConnId(2), &join("KILLME", "Bob", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.kill(0, lease);
    // Until the lease runs out the code still counts as node 0's.
    cluster.open(1, ConnId(3), [10, 0, 0, 3]).unwrap();
    cluster.advance(lease - Duration::from_millis(100)).unwrap();
    assert_eq!(cluster.transcript(1, ConnId(2)).closed, None);
    cluster.advance(Duration::from_millis(200)).unwrap();
    assert_eq!(cluster.transcript(1, ConnId(2)).closed, Some(close_code::GOING_AWAY));
    // Now the code is free: a new room under it is made on node 1.
    cluster.text(1, ConnId(3), &join("KILLME", "Cid", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(1).rooms().len(), 1);
    assert!(cluster.transcript(1, ConnId(3)).messages[0].contains("RoomJoined"));
}

#[test]
fn a_directory_outage_refuses_new_joins_by_name_while_local_rooms_go_on() {
    let mut cluster = SimCluster::new(2, Config::default(), 9, Duration::from_millis(2));
    for (node, conn) in [(0, 1), (0, 2), (1, 3)] {
        cluster.open(node, ConnId(conn), [10, 0, 0, conn as u8]).unwrap();
    }
    cluster.text(0, ConnId(1), &join("LOCAL1", "Ann", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.text(0, ConnId(2), &join("LOCAL1", "Bob", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.set_directory_up(false);
    cluster.text(0, ConnId(1), &game_data(1)).unwrap();
    cluster.text(1, ConnId(3), &join("LOCAL1", "Cid", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert!(cluster.transcript(0, ConnId(2)).messages.last().unwrap().contains("\"n\":1"));
    let refused = cluster.transcript(1, ConnId(3)).messages.last().cloned().unwrap();
    assert!(refused.contains("RoomJoinFailed") && refused.contains("SERVICE_UNAVAILABLE"), "{refused}");
    cluster.set_directory_up(true);
    cluster.text(1, ConnId(3), &join("LOCAL1", "Cid", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(0).rooms()[0].players.len(), 3);
}

#[test]
fn shutting_down_closes_with_1001_on_both_sides_and_frees_codes_at_once() {
    let mut cluster = SimCluster::new(3, Config::default(), 13, Duration::from_millis(2));
    for (node, conn) in [(0, 1), (1, 2), (2, 3)] {
        cluster.open(node, ConnId(conn), [10, 0, 0, conn as u8]).unwrap();
    }
    cluster.text(0, ConnId(1), &join("BYEBYE", "Ann", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    cluster.text(1, ConnId(2), &join("BYEBYE", "Bob", 4)).unwrap();
    cluster.text(2, ConnId(3), &join("BYEBYE", "Cid", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    // An edge shuts down: its client is closed, and the room hears it leave.
    cluster.shutdown(2).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.transcript(2, ConnId(3)).closed, Some(close_code::GOING_AWAY));
    assert!(cluster.transcript(0, ConnId(1)).messages.last().unwrap().contains("PlayerLeft"));
    // The owner shuts down: its remote member is closed with 1001 too, and the code is
    // free at once (no lease to wait for).
    cluster.shutdown(0).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.transcript(1, ConnId(2)).closed, Some(close_code::GOING_AWAY));
    cluster.open(1, ConnId(4), [10, 0, 0, 4]).unwrap();
    cluster.text(1, ConnId(4), &join("BYEBYE", "Dee", 4)).unwrap();
    cluster.advance(Duration::from_millis(20)).unwrap();
    assert_eq!(cluster.engine(1).rooms().len(), 1);
}

/// A random client action over a small space, so that rooms fill, games start and
/// players come and go across nodes.
fn step_strategy(clients: usize) -> impl Strategy<Value = Step> {
    let client = 0..clients;
    prop_oneof![
        3 => (client.clone(), 0..2usize, prop_oneof![Just(2u8), Just(3u8)])
            .prop_map(|(c, code, max)| Step::Send(c, join(["AAAAAA", "BBBBBB"][code], &format!("p{c}"), max))),
        1 => (client.clone(), 0..2usize).prop_map(|(c, code)| Step::Send(c, spectate(["AAAAAA", "BBBBBB"][code], &format!("s{c}")))),
        3 => (client.clone(), 0..100u32).prop_map(|(c, n)| Step::Send(c, game_data(n))),
        2 => client.clone().prop_map(|c| Step::Send(c, READY.to_owned())),
        1 => client.clone().prop_map(|c| Step::Send(c, AUTHORITY.to_owned())),
        1 => client.clone().prop_map(|c| Step::Send(c, LEAVE.to_owned())),
        1 => client.clone().prop_map(Step::Close),
        1 => (0..3u64).prop_map(|s| Step::Wait(Duration::from_millis(s * 700))),
        2 => (client.clone(), 0..2usize, proptest::collection::vec(0..4usize, 1..4)).prop_map(|(c, code, then)| {
            let code = ["AAAAAA", "BBBBBB"][code];
            let mut texts = vec![join(code, &format!("p{c}"), 3)];
            texts.extend(then.into_iter().map(|i| match i {
                0 => game_data(i as u32),
                1 => READY.to_owned(),
                2 => LEAVE.to_owned(),
                _ => spectate(code, &format!("s{c}")),
            }));
            Step::Burst(c, texts)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any workload of five clients spread over three nodes gives every client the same
    /// messages, in the same order, as one server would.
    #[test]
    fn any_workload_on_three_nodes_matches_one_server(
        steps in proptest::collection::vec(step_strategy(5), 1..60),
        delay_ms in 0..4u64,
        seed in any::<u64>(),
    ) {
        let mut script: Vec<Step> = (0..5).map(Step::Open).collect();
        script.extend(steps);
        let single = run(&script, 0, Duration::from_millis(delay_ms), seed).map_err(TestCaseError::fail)?;
        let clustered = run(&script, 3, Duration::from_millis(delay_ms), seed).map_err(TestCaseError::fail)?;
        if let Some(difference) = first_difference(&comparable(&clustered), &comparable(&single)) {
            return Err(TestCaseError::fail(difference));
        }
    }
}

/// What another node sends that makes no sense is refused by name or ignored, and never
/// creates or touches a connection: a hand-over whose state is not an engine's, input
/// for a connection this node does not serve, output for one it did not hand over.
#[test]
fn nonsense_from_another_node_is_refused_or_ignored() {
    use signal_fish_core::cluster::{ClientOutput, NodeId, NodeMessage};
    use signal_fish_core::{Action, Engine, Event, Instant};

    let mut config = Config::default();
    config.cluster.redis_url = Some("redis://simulated".to_owned());
    let mut engine = Engine::new(config, [5; 32], Instant::ZERO, 1_700_000_000_000);
    let from = NodeId("other".to_owned());
    let garbage: NodeMessage =
        serde_json::from_str(r#"{"Adopt":{"conn":5,"state":{"not":"a connection"}}}"#).unwrap();
    let actions =
        engine.step(Event::FromNode { from: from.clone(), message: garbage }, Instant::from_micros(1));
    let refused = NodeMessage::Output {
        conn: ConnId(5),
        output: ClientOutput::Close { code: 1011, reason: "hand-over not understood".to_owned() },
    };
    assert_eq!(actions, [Action::ToNode { to: from.clone(), message: refused }]);
    assert_eq!(engine.cluster_stats().handovers_refused, 1);
    assert_eq!((engine.connection_count(), engine.adopted_count()), (0, 0));

    let input: NodeMessage =
        serde_json::from_str(r#"{"Input":{"conn":9,"input":{"Text":"{\"type\":\"Ping\"}"}}}"#).unwrap();
    let output = NodeMessage::Output {
        conn: ConnId(9),
        output: ClientOutput::Close { code: 1000, reason: "x".to_owned() },
    };
    for message in [input, output] {
        let actions = engine.step(Event::FromNode { from: from.clone(), message }, Instant::from_micros(2));
        assert!(actions.is_empty(), "{actions:?}");
    }
    engine.check_invariants().unwrap();
}
