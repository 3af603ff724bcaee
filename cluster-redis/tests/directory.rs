//! The directory against a real redis-server (started per test on a free loopback port).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use signal_fish_redis::testing::RedisServer;
use signal_fish_redis::{Directory, Heartbeat, LinkError, LinkSettings, LinkStats, Owner, Registration};

fn settings(server: &RedisServer, node: &str) -> LinkSettings {
    let mut s = LinkSettings::new(server.url(), node);
    s.prefix = "t:sf".to_owned();
    s.lease = Duration::from_secs(5);
    s.heartbeat_interval = Duration::from_millis(500);
    s.op_timeout = Duration::from_millis(500);
    s.orphan_ttl = Duration::from_secs(60);
    s
}

fn directory(s: &LinkSettings) -> Directory {
    let mut dir =
        Directory::connect(s, &format!("token-{}", s.node_id), Arc::new(LinkStats::default())).unwrap();
    assert!(matches!(dir.register_node().unwrap(), Registration::Fresh { .. }));
    dir
}

fn raw(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url()).unwrap().get_connection().unwrap()
}

fn keys(server: &RedisServer) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("t:sf:*").query(&mut raw(server)).unwrap();
    keys.sort();
    keys
}

#[test]
fn racing_claims_have_exactly_one_winner() {
    let Some(server) = RedisServer::start() else { return };
    const ROUNDS: usize = 300;
    let barrier = Arc::new(Barrier::new(2));
    let racer = |node: &'static str| {
        let s = settings(&server, node);
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            let mut dir = directory(&s);
            barrier.wait();
            (0..ROUNDS)
                .map(|i| {
                    barrier.wait();
                    dir.claim_code("game:with:colons", &format!("C{i}")).unwrap()
                })
                .collect::<Vec<Owner>>()
        })
    };
    let a = racer("node-a");
    let b = racer("node-b");
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let mut wins = (0, 0);
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        match (a, b) {
            (Owner::Mine, Owner::Other(w)) if w == "node-a" => wins.0 += 1,
            (Owner::Other(w), Owner::Mine) if w == "node-b" => wins.1 += 1,
            other => panic!("round {i}: not exactly one winner: {other:?}"),
        }
    }
    assert_eq!(wins.0 + wins.1, ROUNDS);
    eprintln!("node-a won {}, node-b won {}", wins.0, wins.1);
    let mut check = directory(&settings(&server, "node-c"));
    let owner = check.find_code("game:with:colons", "C0").unwrap().unwrap();
    assert!(owner == "node-a" || owner == "node-b");
}

#[test]
fn a_dead_nodes_codes_become_claimable() {
    let Some(server) = RedisServer::start() else { return };
    let mut short = settings(&server, "node-a");
    short.lease = Duration::from_millis(300);
    short.heartbeat_interval = Duration::from_millis(100);
    let mut a = directory(&short);
    let mut b = directory(&settings(&server, "node-b"));
    assert_eq!(a.claim_code("g", "ABC").unwrap(), Owner::Mine);
    assert_eq!(a.publish_room("room-1").unwrap(), Owner::Mine);
    assert_eq!(b.claim_code("g", "ABC").unwrap(), Owner::Other("node-a".into()));
    assert_eq!(b.find_room("room-1").unwrap(), Some("node-a".into()));
    // node-a stops heartbeating: its lease runs out.
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.find_code("g", "ABC").unwrap().is_some() {
        assert!(Instant::now() < deadline, "node-a's lease never ran out");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.find_room("room-1").unwrap(), None);
    assert_eq!(b.claim_code("g", "ABC").unwrap(), Owner::Mine);
    assert_eq!(b.publish_room("room-1").unwrap(), Owner::Mine);
    // node-a learns it at its next heartbeat, and may claim nothing meanwhile.
    assert_eq!(a.heartbeat().unwrap(), Heartbeat::Expired);
    assert_eq!(a.claim_code("g", "XYZ"), Err(LinkError::LeaseLost { op: "claim_code" }));
    // Registering again drops the old claims it still listed, not node-b's.
    assert_eq!(a.register_node().unwrap(), Registration::Fresh { released: 0 });
    assert_eq!(a.claim_code("g", "ABC").unwrap(), Owner::Other("node-b".into()));
    assert_eq!(b.find_code("g", "ABC").unwrap(), Some("node-b".into()));
}

#[test]
fn release_by_a_non_owner_does_nothing() {
    let Some(server) = RedisServer::start() else { return };
    let mut a = directory(&settings(&server, "node-a"));
    let mut b = directory(&settings(&server, "node-b"));
    assert_eq!(a.claim_code("g", "ABC").unwrap(), Owner::Mine);
    assert_eq!(a.publish_room("r").unwrap(), Owner::Mine);
    assert!(!b.release_code("g", "ABC").unwrap());
    assert!(!b.release_room("r").unwrap());
    assert_eq!(b.find_code("g", "ABC").unwrap(), Some("node-a".into()));
    assert_eq!(b.find_room("r").unwrap(), Some("node-a".into()));
    assert!(a.release_code("g", "ABC").unwrap());
    assert!(a.release_room("r").unwrap());
    assert!(!a.release_code("g", "ABC").unwrap());
    assert_eq!(b.find_code("g", "ABC").unwrap(), None);
    assert_eq!(b.find_room("r").unwrap(), None);
    // Claiming twice is idempotent.
    assert_eq!(b.claim_code("g", "ABC").unwrap(), Owner::Mine);
    assert_eq!(b.claim_code("g", "ABC").unwrap(), Owner::Mine);
}

#[test]
fn release_all_empties_the_nodes_keys() {
    let Some(server) = RedisServer::start() else { return };
    let mut a = directory(&settings(&server, "node-a"));
    let mut b = directory(&settings(&server, "node-b"));
    for i in 0..50 {
        assert_eq!(a.claim_code("g", &format!("A{i}")).unwrap(), Owner::Mine);
    }
    for i in 0..10 {
        assert_eq!(a.publish_room(&format!("room-{i}")).unwrap(), Owner::Mine);
    }
    assert_eq!(b.claim_code("g", "B0").unwrap(), Owner::Mine);
    a.release_code("g", "A0").unwrap();
    assert_eq!(b.live_nodes().unwrap().len(), 2);
    assert_eq!(a.release_all().unwrap(), 59);
    assert_eq!(
        keys(&server),
        ["t:sf:code:1:g:B0", "t:sf:node:node-b", "t:sf:nodes", "t:sf:owned:node-b"].map(String::from)
    );
    assert_eq!(b.live_nodes().unwrap(), ["node-b"]);
    assert_eq!(b.release_all().unwrap(), 1);
    assert!(keys(&server).is_empty(), "{:?}", keys(&server));
}

#[test]
fn claimed_keys_have_a_ttl_safety_net_renewed_by_the_heartbeat() {
    let Some(server) = RedisServer::start() else { return };
    let s = settings(&server, "node-a");
    let mut a = directory(&s);
    assert_eq!(a.claim_code("g", "ABC").unwrap(), Owner::Mine);
    let mut r = raw(&server);
    let pttl =
        |r: &mut redis::Connection, key: &str| -> i64 { redis::cmd("PTTL").arg(key).query(r).unwrap() };
    let orphan = s.orphan_ttl.as_millis() as i64;
    for key in ["t:sf:code:1:g:ABC", "t:sf:owned:node-a", "t:sf:nodes"] {
        let ttl = pttl(&mut r, key);
        assert!(ttl > 0 && ttl <= orphan, "{key}: {ttl}");
    }
    let lease = pttl(&mut r, "t:sf:node:node-a");
    assert!(lease > 0 && lease <= s.lease.as_millis() as i64);
    // The heartbeat renews owned keys, and writes a missing one again.
    let _: () = redis::cmd("PEXPIRE").arg("t:sf:code:1:g:ABC").arg(1000).query(&mut r).unwrap();
    assert_eq!(a.heartbeat().unwrap(), Heartbeat::Alive);
    assert!(pttl(&mut r, "t:sf:code:1:g:ABC") > 1000);
    let _: () = redis::cmd("DEL").arg("t:sf:code:1:g:ABC").query(&mut r).unwrap();
    assert_eq!(a.heartbeat().unwrap(), Heartbeat::Alive);
    assert_eq!(a.find_code("g", "ABC").unwrap(), Some("node-a".into()));
}

#[test]
fn a_node_id_held_by_a_live_node_is_refused() {
    let Some(server) = RedisServer::start() else { return };
    let s = settings(&server, "node-a");
    let mut a = directory(&s);
    let mut twin = Directory::connect(&s, "another-process", Arc::new(LinkStats::default())).unwrap();
    let err = twin.register_node().unwrap_err();
    assert_eq!(err, LinkError::NodeIdTaken { node_id: "node-a".into() });
    assert!(err.to_string().contains("held by another live node"), "{err}");
    // The twin can neither claim nor release in node-a's name.
    assert_eq!(a.claim_code("g", "ABC").unwrap(), Owner::Mine);
    assert_eq!(twin.claim_code("g", "XYZ"), Err(LinkError::LeaseLost { op: "claim_code" }));
    assert!(!twin.release_code("g", "ABC").unwrap());
    assert!(twin.release_all().is_err());
    assert_eq!(a.find_code("g", "ABC").unwrap(), Some("node-a".into()));
    // Its own process renews.
    assert_eq!(a.register_node().unwrap(), Registration::Renewed);
}

#[test]
fn operations_fail_as_unavailable_without_redis() {
    let Some(mut server) = RedisServer::start() else { return };
    let stats = Arc::new(LinkStats::default());
    let s = settings(&server, "node-a");
    let mut a = Directory::connect(&s, "t", stats.clone()).unwrap();
    a.register_node().unwrap();
    server.stop();
    let started = Instant::now();
    assert!(a.claim_code("g", "A").unwrap_err().is_unavailable());
    assert!(!a.is_connected());
    // Disconnected: at once.
    assert!(a.find_code("g", "A").unwrap_err().is_unavailable());
    assert!(a.reconnect().unwrap_err().is_unavailable());
    assert!(started.elapsed() < s.op_timeout * 3, "{:?}", started.elapsed());
    server.restart_same_port();
    a.reconnect().unwrap();
    assert_eq!(a.heartbeat().unwrap(), Heartbeat::Expired);
    assert!(matches!(a.register_node().unwrap(), Registration::Fresh { .. }));
    assert_eq!(a.claim_code("g", "A").unwrap(), Owner::Mine);
    let snap = stats.snapshot();
    assert!(snap.ops >= 4 && snap.unavailable >= 3 && snap.rtt_total_us > 0, "{snap:?}");
}
