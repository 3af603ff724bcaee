//! `RedisLink` (threads, carrier, outages) against a real redis-server.

use std::time::{Duration, Instant};

use async_channel::Receiver;
use signal_fish_redis::frame;
use signal_fish_redis::testing::RedisServer;
use signal_fish_redis::{LinkError, LinkEvent, LinkSettings, Owner, RedisLink, Reply, Request};

fn settings(url: &str, node: &str) -> LinkSettings {
    let mut s = LinkSettings::new(url, node);
    s.prefix = "t:link".to_owned();
    s.lease = Duration::from_millis(1500);
    s.heartbeat_interval = Duration::from_millis(200);
    s.op_timeout = Duration::from_millis(300);
    s.reconnect_backoff_min = Duration::from_millis(50);
    s.reconnect_backoff_max = Duration::from_millis(300);
    s.orphan_ttl = Duration::from_secs(60);
    s.max_payload = 64 * 1024;
    s
}

/// A link's event stream, with every event seen kept in `log`.
struct Events {
    rx: Receiver<LinkEvent>,
    log: Vec<LinkEvent>,
}

impl Events {
    fn new(rx: Receiver<LinkEvent>) -> Events {
        Events { rx, log: Vec::new() }
    }

    /// The next event within `within`.
    fn next(&mut self, within: Duration) -> Option<LinkEvent> {
        let rx = &self.rx;
        let e = async_io::block_on(futures_lite::future::or(async { rx.recv().await.ok() }, async {
            async_io::Timer::after(within).await;
            None
        }))?;
        self.log.push(e.clone());
        Some(e)
    }

    /// Events until one matches (returned last), failing after `within`.
    fn until(&mut self, within: Duration, what: &str, f: impl Fn(&LinkEvent) -> bool) -> Vec<LinkEvent> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Some(e) => {
                    let done = f(&e);
                    seen.push(e);
                    if done {
                        return seen;
                    }
                }
                None => panic!("no {what} within {within:?}; saw {seen:?}"),
            }
        }
    }

    /// Every event that arrives within `within`.
    fn drain(&mut self, within: Duration) -> Vec<LinkEvent> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(e) = self.next(deadline.saturating_duration_since(Instant::now())) {
            seen.push(e);
        }
        seen
    }

    fn answer(&mut self, id: u64) -> Result<Reply, LinkError> {
        let seen = self.until(
            Duration::from_secs(3),
            "answer",
            |e| matches!(e, LinkEvent::Answer { id: i, .. } if *i == id),
        );
        match seen.into_iter().last() {
            Some(LinkEvent::Answer { result, .. }) => result,
            _ => unreachable!(),
        }
    }

    fn count(&self, f: impl Fn(&LinkEvent) -> bool) -> usize {
        self.log.iter().filter(|e| f(e)).count()
    }
}

fn start(url: &str, node: &str) -> (RedisLink, Events) {
    let (link, rx) = RedisLink::start(settings(url, node)).unwrap();
    (link, Events::new(rx))
}

fn ask(link: &RedisLink, events: &mut Events, id: u64, request: Request) -> Result<Reply, LinkError> {
    link.try_request(id, request).unwrap();
    events.answer(id)
}

fn send(to: &str, payload: &[u8]) -> Request {
    Request::Send { to: to.to_owned(), payload: payload.to_vec() }
}

fn publish(server: &RedisServer, channel: &str, bytes: &[u8]) -> i64 {
    let mut c = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    redis::cmd("PUBLISH").arg(channel).arg(bytes).query(&mut c).unwrap()
}

#[test]
fn the_carrier_delivers_in_order_without_loss() {
    let Some(server) = RedisServer::start() else { return };
    let (a, mut ae) = start(&server.url(), "node-a");
    let (b, mut be) = start(&server.url(), "node-b");
    const N: u64 = 2000;
    let sender = a.requester();
    let producer = std::thread::spawn(move || {
        for i in 0..N {
            async_io::block_on(sender.request(i, send("node-b", &i.to_be_bytes()))).unwrap();
        }
    });
    let mut next_expected = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next_expected < N {
        match be.next(deadline.saturating_duration_since(Instant::now())) {
            Some(LinkEvent::NodeMessage { from, payload }) => {
                assert_eq!(from, "node-a");
                assert_eq!(u64::from_be_bytes(payload.try_into().unwrap()), next_expected);
                next_expected += 1;
            }
            Some(LinkEvent::NodesChanged { .. }) => {}
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("only {next_expected} of {N} messages arrived"),
        }
    }
    producer.join().unwrap();
    let mut sent = 0;
    for e in ae.drain(Duration::from_millis(200)) {
        if let LinkEvent::Answer { result, .. } = e {
            assert_eq!(result, Ok(Reply::Sent));
            sent += 1;
        }
    }
    assert_eq!(sent, N);
    let (sa, sb) = (a.stats().snapshot(), b.stats().snapshot());
    assert_eq!((sa.messages_sent, sb.messages_received, sb.gaps, sb.duplicates_dropped), (N, N, 0, 0));
    // Queued sends share pipelined round trips: at most one operation per message.
    assert!(sa.ops >= 1 && sa.ops <= N + 16 && sa.rtt_total_us > 0 && sa.rtt_max_us > 0, "{sa:?}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn gaps_duplicates_and_bad_frames_are_caught() {
    let Some(server) = RedisServer::start() else { return };
    let (b, mut be) = start(&server.url(), "node-b");
    be.until(Duration::from_secs(2), "nodes", |e| matches!(e, LinkEvent::NodesChanged { .. }));
    let inbox = "t:link:inbox:node-b";
    let forged = |seq: u64, payload: &[u8]| frame::encode("forger", 77, seq, payload);
    for seq in [1, 2, 4, 2, 5] {
        assert_eq!(publish(&server, inbox, &forged(seq, &[seq as u8])), 1);
    }
    assert_eq!(publish(&server, inbox, b"not a frame"), 1);
    assert_eq!(publish(&server, inbox, &forged(6, &vec![0; 64 * 1024 + 1])), 1);
    // A restarted sender (new incarnation): its old link is broken.
    assert_eq!(publish(&server, inbox, &frame::encode("forger", 78, 1, b"new")), 1);
    let msg = |p: &[u8]| LinkEvent::NodeMessage { from: "forger".into(), payload: p.to_vec() };
    let broken = LinkEvent::LinkBroken { from: Some("forger".into()) };
    let events = be.until(Duration::from_secs(2), "the last frame", |e| *e == msg(b"new"));
    assert_eq!(
        events,
        [msg(&[1]), msg(&[2]), broken.clone(), msg(&[4]), msg(&[5]), broken.clone(), broken, msg(b"new")]
    );
    let s = b.stats().snapshot();
    assert_eq!((s.gaps, s.duplicates_dropped, s.malformed_frames, s.payload_refused), (3, 1, 1, 1), "{s:?}");
    b.shutdown().unwrap();
}

#[test]
fn payload_bound_and_absent_targets() {
    let Some(server) = RedisServer::start() else { return };
    let (a, mut ae) = start(&server.url(), "node-a");
    let (b, mut be) = start(&server.url(), "node-b");
    let max = 64 * 1024;
    assert_eq!(
        a.try_request(1, send("node-b", &vec![7; max + 1])),
        Err(LinkError::PayloadTooLarge { size: max + 1, max })
    );
    assert_eq!(ask(&a, &mut ae, 2, send("node-b", &vec![7; max])), Ok(Reply::Sent));
    let got = be.until(Duration::from_secs(2), "message", |e| matches!(e, LinkEvent::NodeMessage { .. }));
    assert!(matches!(got.last(), Some(LinkEvent::NodeMessage { payload, .. }) if payload.len() == max));
    assert_eq!(
        ask(&a, &mut ae, 3, send("ghost", b"x")),
        Err(LinkError::NotListening { node_id: "ghost".into() })
    );
    assert!(matches!(ask(&a, &mut ae, 4, send("bad id", b"x")), Err(LinkError::Invalid { .. })));
    assert_eq!(a.stats().snapshot().send_not_listening, 1);
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn requests_directory_and_shutdown_release() {
    let Some(server) = RedisServer::start() else { return };
    let (b, mut be) = start(&server.url(), "node-b");
    let live = |v: &[&str]| LinkEvent::NodesChanged { live: v.iter().map(|s| s.to_string()).collect() };
    assert_eq!(be.next(Duration::from_secs(2)), Some(live(&["node-b"])));
    let (a, mut ae) = start(&server.url(), "node-a");
    be.until(Duration::from_secs(2), "node-a joining", |e| *e == live(&["node-a", "node-b"]));
    let claim = |code: &str| Request::ClaimCode { game: "g:1".into(), code: code.into() };
    assert_eq!(ask(&a, &mut ae, 1, claim("AAA")), Ok(Reply::Owner(Owner::Mine)));
    assert_eq!(ask(&b, &mut be, 2, claim("AAA")), Ok(Reply::Owner(Owner::Other("node-a".into()))));
    assert_eq!(
        ask(&a, &mut ae, 3, Request::PublishRoom { room_id: "r1".into() }),
        Ok(Reply::Owner(Owner::Mine))
    );
    let find = Request::FindCode { game: "g:1".into(), code: "AAA".into() };
    assert_eq!(ask(&b, &mut be, 4, find.clone()), Ok(Reply::Found(Some("node-a".into()))));
    assert_eq!(
        ask(&b, &mut be, 5, Request::FindRoom { room_id: "r1".into() }),
        Ok(Reply::Found(Some("node-a".into())))
    );
    let release = Request::ReleaseCode { game: "g:1".into(), code: "AAA".into() };
    assert_eq!(ask(&b, &mut be, 6, release), Ok(Reply::Released(false)));
    let nodes = ask(&b, &mut be, 7, Request::LiveNodes).unwrap();
    assert!(matches!(&nodes, Reply::Nodes(n) if n.len() == 2), "{nodes:?}");
    // Shutdown releases the code, the room and the lease.
    let started = Instant::now();
    assert_eq!(a.shutdown(), Ok(2));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(ask(&b, &mut be, 8, find), Ok(Reply::Found(None)));
    be.until(Duration::from_secs(2), "node-a leaving", |e| *e == live(&["node-b"]));
    assert_eq!(ask(&b, &mut be, 9, claim("AAA")), Ok(Reply::Owner(Owner::Mine)));
    b.shutdown().unwrap();
    let mut c = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let left: Vec<String> = redis::cmd("KEYS").arg("t:link:*").query(&mut c).unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_redis_outage_is_reported_once_and_recovered() {
    let Some(mut server) = RedisServer::start() else { return };
    let s = settings(&server.url(), "node-a");
    let (a, rx) = RedisLink::start(s.clone()).unwrap();
    let mut ae = Events::new(rx);
    let (b, mut be) = start(&server.url(), "node-b");
    ae.until(
        Duration::from_secs(2),
        "node-b",
        |e| matches!(e, LinkEvent::NodesChanged { live } if live.len() == 2),
    );
    assert_eq!(ask(&b, &mut be, 1, send("node-a", b"before")), Ok(Reply::Sent));
    ae.until(Duration::from_secs(2), "message", |e| matches!(e, LinkEvent::NodeMessage { .. }));

    server.stop();
    ae.until(Duration::from_secs(3), "RedisDown", |e| matches!(e, LinkEvent::RedisDown { .. }));
    // Requests fail fast, not after a hang.
    for id in 10..15 {
        let started = Instant::now();
        let claim = Request::ClaimCode { game: "g".into(), code: format!("C{id}") };
        assert!(ask(&a, &mut ae, id, claim).unwrap_err().is_unavailable());
        assert!(started.elapsed() < s.op_timeout + Duration::from_millis(200), "{:?}", started.elapsed());
    }
    // Several reconnect attempts (backoff 50 to 300 ms) go by.
    ae.drain(Duration::from_millis(1200));
    let broken_all = LinkEvent::LinkBroken { from: None };
    if ae.count(|e| *e == broken_all) == 0 {
        ae.until(Duration::from_secs(2), "LinkBroken", |e| *e == broken_all);
    }
    assert_eq!(ae.count(|e| matches!(e, LinkEvent::RedisDown { .. })), 1, "{:?}", ae.log);
    assert_eq!(ae.count(|e| *e == LinkEvent::RedisUp), 0, "{:?}", ae.log);

    server.restart_same_port();
    ae.until(Duration::from_secs(5), "RedisUp", |e| *e == LinkEvent::RedisUp);
    let claim = Request::ClaimCode { game: "g".into(), code: "after".into() };
    assert_eq!(ask(&a, &mut ae, 20, claim), Ok(Reply::Owner(Owner::Mine)));
    // node-b recovers too; its link to node-a goes on without a second report.
    be.until(Duration::from_secs(5), "node-b RedisUp", |e| *e == LinkEvent::RedisUp);
    assert_eq!(ask(&b, &mut be, 21, send("node-a", b"after")), Ok(Reply::Sent));
    let got = ae.until(Duration::from_secs(2), "message", |e| matches!(e, LinkEvent::NodeMessage { .. }));
    assert_eq!(
        got.last(),
        Some(&LinkEvent::NodeMessage { from: "node-b".into(), payload: b"after".to_vec() })
    );
    ae.drain(Duration::from_millis(300));
    // Over the whole outage: down once, up once, all links broken once, none one by one;
    // Redis came back empty, so the lease (and every claim) was lost.
    assert_eq!(ae.count(|e| matches!(e, LinkEvent::RedisDown { .. })), 1, "{:?}", ae.log);
    assert_eq!(ae.count(|e| *e == LinkEvent::RedisUp), 1, "{:?}", ae.log);
    assert_eq!(ae.count(|e| *e == broken_all), 1, "{:?}", ae.log);
    assert_eq!(ae.count(|e| matches!(e, LinkEvent::LinkBroken { from: Some(_) })), 0, "{:?}", ae.log);
    assert_eq!(ae.count(|e| *e == LinkEvent::LeaseLost), 1, "{:?}", ae.log);
    let stats = a.stats().snapshot();
    assert!(stats.unavailable >= 5 && stats.reconnects >= 2 && stats.subscription_losses == 1, "{stats:?}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}

#[test]
fn a_lost_lease_is_reported_and_the_link_registers_again() {
    let Some(server) = RedisServer::start() else { return };
    let (a, mut ae) = start(&server.url(), "node-a");
    let claim = Request::ClaimCode { game: "g".into(), code: "OLD".into() };
    assert_eq!(ask(&a, &mut ae, 1, claim), Ok(Reply::Owner(Owner::Mine)));
    // The lease disappears (as if the node had stalled past it).
    let mut c = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("DEL").arg("t:link:node:node-a").query(&mut c).unwrap();
    ae.until(Duration::from_secs(2), "LeaseLost", |e| *e == LinkEvent::LeaseLost);
    // Registered again, without the old claim.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let exists: bool = redis::cmd("EXISTS").arg("t:link:node:node-a").query(&mut c).unwrap();
        if exists {
            break;
        }
        assert!(Instant::now() < deadline, "node-a did not register again");
        std::thread::sleep(Duration::from_millis(20));
    }
    let old: Option<String> = redis::cmd("GET").arg("t:link:code:1:g:OLD").query(&mut c).unwrap();
    assert_eq!(old, None);
    let claim = Request::ClaimCode { game: "g".into(), code: "NEW".into() };
    assert_eq!(ask(&a, &mut ae, 2, claim), Ok(Reply::Owner(Owner::Mine)));
    a.shutdown().unwrap();
}

#[test]
fn start_fails_fast_without_redis_or_waits_when_asked() {
    let Some(mut server) = RedisServer::start() else { return };
    let url = server.url();
    server.stop();
    let started = Instant::now();
    let err = RedisLink::start(settings(&url, "node-a")).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(err.is_unavailable(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cannot connect to") && text.contains(&format!(":{}", server.port())), "{text}");

    // Waiting: Redis comes up 400 ms later.
    let mut waiting = settings(&url, "node-a");
    waiting.wait_for_redis = Some(Duration::from_secs(10));
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        server.restart_same_port();
        server
    });
    let started = Instant::now();
    let (a, _events) = RedisLink::start(waiting).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    let server = starter.join().unwrap();

    // A second process with the same id is refused while the first is alive, and a
    // short wait gives up with the same error.
    let err = RedisLink::start(settings(&server.url(), "node-a")).unwrap_err();
    assert_eq!(err, LinkError::NodeIdTaken { node_id: "node-a".into() });
    let mut short = settings(&server.url(), "node-a");
    short.wait_for_redis = Some(Duration::from_millis(300));
    assert_eq!(RedisLink::start(short).unwrap_err(), LinkError::NodeIdTaken { node_id: "node-a".into() });
    a.shutdown().unwrap();
}

#[test]
fn a_full_request_queue_is_refused() {
    let Some(server) = RedisServer::start() else { return };
    let mut s = settings(&server.url(), "node-a");
    s.max_queued_requests = 2;
    let (a, rx) = RedisLink::start(s).unwrap();
    let mut ae = Events::new(rx);
    let mut refused = 0;
    for id in 0..200 {
        match a.try_request(id, Request::LiveNodes) {
            Ok(()) => {}
            Err(LinkError::Overloaded { capacity: 2 }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused > 0);
    let answered = ae
        .drain(Duration::from_millis(500))
        .iter()
        .filter(|e| matches!(e, LinkEvent::Answer { result: Ok(Reply::Nodes(_)), .. }))
        .count();
    assert_eq!(answered, 200 - refused);
    a.shutdown().unwrap();
}

/// A connection as a user of its own, so the test can take rights from the link's
/// (default) user while Redis stays up: Redis then answers the link with errors.
fn admin(server: &RedisServer) -> redis::Connection {
    let mut c = redis::Client::open(server.url()).unwrap().get_connection().unwrap();
    let rules = ["SETUSER", "admin", "on", "nopass", "~*", "&*", "+@all"];
    let _: () = redis::cmd("ACL").arg(&rules).query(&mut c).unwrap();
    let url = format!("redis://admin:any@127.0.0.1:{}/", server.port());
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// Lets the link's user run its scripts, or answers each with `NOPERM`.
fn allow_scripts(admin: &mut redis::Connection, allowed: bool) {
    let rules = if allowed { ["+eval", "+evalsha"] } else { ["-eval", "-evalsha"] };
    let _: () = redis::cmd("ACL").arg("SETUSER").arg("default").arg(&rules).query(admin).unwrap();
}

#[test]
fn a_lease_lost_while_redis_refuses_is_regained_once_it_answers() {
    let Some(server) = RedisServer::start() else { return };
    let (a, mut ae) = start(&server.url(), "node-a");
    let mut admin = admin(&server);
    // Redis answers every script with an error for longer than the lease (1.5 s): the
    // connection stays up, the heartbeats fail, the lease runs out.
    allow_scripts(&mut admin, false);
    ae.until(Duration::from_secs(4), "LeaseLost", |e| *e == LinkEvent::LeaseLost);
    let claim = Request::ClaimCode { game: "g".into(), code: "EARLY".into() };
    let refused = ask(&a, &mut ae, 1, claim);
    assert!(matches!(&refused, Err(LinkError::Redis { .. })), "{refused:?}");
    allow_scripts(&mut admin, true);
    // The claims a node makes again on LeaseLost failed; it must be told when they hold.
    ae.until(Duration::from_secs(4), "LeaseRegained", |e| *e == LinkEvent::LeaseRegained);
    let claim = Request::ClaimCode { game: "g".into(), code: "LATER".into() };
    assert_eq!(ask(&a, &mut ae, 2, claim), Ok(Reply::Owner(Owner::Mine)));
    assert_eq!(ae.count(|e| *e == LinkEvent::LeaseLost), 1, "{:?}", ae.log);
    assert_eq!(ae.count(|e| matches!(e, LinkEvent::RedisDown { .. })), 0, "{:?}", ae.log);
    a.shutdown().unwrap();
}

#[test]
fn a_release_redis_refused_is_carried_out_once_it_answers() {
    let Some(server) = RedisServer::start() else { return };
    let (a, mut ae) = start(&server.url(), "node-a");
    let mut admin = admin(&server);
    let claim = Request::ClaimCode { game: "g".into(), code: "GONE".into() };
    assert_eq!(ask(&a, &mut ae, 1, claim), Ok(Reply::Owner(Owner::Mine)));
    allow_scripts(&mut admin, false);
    let release = Request::ReleaseCode { game: "g".into(), code: "GONE".into() };
    let refused = ask(&a, &mut ae, 2, release);
    assert!(matches!(&refused, Err(LinkError::Redis { .. })), "{refused:?}");
    let owner: Option<String> = redis::cmd("GET").arg("t:link:code:1:g:GONE").query(&mut admin).unwrap();
    assert_eq!(owner.as_deref(), Some("node-a"));
    allow_scripts(&mut admin, true);
    // Well within the lease: the heartbeats would keep the code's key alive for good.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let owner: Option<String> = redis::cmd("GET").arg("t:link:code:1:g:GONE").query(&mut admin).unwrap();
        if owner.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "the refused release was not carried out: {owner:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ae.count(|e| *e == LinkEvent::LeaseLost), 0, "{:?}", ae.log);
    a.shutdown().unwrap();
}
