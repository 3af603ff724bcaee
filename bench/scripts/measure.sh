#!/usr/bin/env bash
# Measures the performance targets of Signal Fish on this machine: each scenario runs
# RUNS times (default 3), each run against a fresh server process pinned to core 0,
# with the generator pinned to core 1. Prints every run's summary and the median of
# the headline figure per scenario, with the load average at each run.
#
#   cargo build --release -p signal-fish-server -p signal-fish-bench
#   bench/scripts/measure.sh                  # all scenarios but mesh
#   bench/scripts/measure.sh relay idle       # some of them
#
# Scenarios: relay, fixed-rate (1,000 clients x 20 Hz in rooms of 4, room-mates' send
# times scattered over the period), fixed-rate-60hz (500 clients x 60 Hz in rooms of 4),
# fixed-rate-by-room (fixed-rate with room-mates sending next to each other, the layout
# of the figures measured before --stagger existed), join-storm, idle, mesh (1,000
# matchbox peers in rooms of 4 at 10 Hz against the server's matchbox full-mesh port,
# PORT + 1, with SIGNAL_FISH_MESH__ENABLED=true), mesh-matchbox (the same against
# matchbox's own matchbox_server, started as `$MATCHBOX_SERVER 127.0.0.1:<PORT + 1>`).
#
#   MATCHBOX_SERVER=/path/to/matchbox_server bench/scripts/measure.sh mesh
#
# relay-cluster and fixed-rate-cluster run relay and fixed-rate against two nodes of a
# cluster (DECISIONS D58) sharing one redis-server (needs redis-server on PATH), all three
# pinned to core 0: clients alternate between the nodes, so every room spans both, and
# the CPU figures are those of both nodes and Redis together.
#
# MATCHBOX_SERVER=... runs mesh and mesh-matchbox alternately (signal-fish, matchbox,
# signal-fish, …), RUNS pairs, so that drift of the machine favours neither, then the
# medians of each.
#
# Environment: SERVER and BENCH (binaries; default target/release/…, or under
# $CARGO_TARGET_DIR), PORT (default 39536), RUNS (default 3), OUT (results directory,
# default bench-results), SERVER_ARGS (extra arguments for the server), TLS=1 (the same
# runs over wss://: the server must be built with `--features tls`; a certificate for
# localhost, signed by a CA made for the run, is made with openssl in $OUT and the
# generator trusts that CA with --tls-ca), SYSCALLS=1 (count the server's system calls
# per message with perf stat, --count-syscalls; tracing adds server CPU, so take the
# CPU figures from runs without it), MATCHBOX_SERVER (matchbox_server binary: `mesh`
# then also runs `mesh-matchbox`; install it with
# `cargo install matchbox_server --locked --root DIR`).
set -euo pipefail

dir=${CARGO_TARGET_DIR:-target}/release
SERVER=${SERVER:-$dir/signal-fish-server}
BENCH=${BENCH:-$dir/signal-fish-bench}
PORT=${PORT:-39536}
RUNS=${RUNS:-3}
OUT=${OUT:-bench-results}
SERVER_ARGS=${SERVER_ARGS:-}
TLS=${TLS:-}
MATCHBOX_SERVER=${MATCHBOX_SERVER:-}
# The matchbox full-mesh port: Signal Fish's default (the main port + 1), and where
# matchbox_server is put for mesh-matchbox.
MESH_PORT=$((PORT + 1))
scenarios=("$@")
# mesh is run only when asked for (a server without the matchbox mode, such as the
# original 0.2.0, has no mesh port).
[ ${#scenarios[@]} -eq 0 ] && scenarios=(relay fixed-rate fixed-rate-60hz join-storm idle)

for bin in "$SERVER" "$BENCH"; do
    [ -x "$bin" ] || { echo "error: $bin is not built (cargo build --release -p signal-fish-server -p signal-fish-bench)" >&2; exit 1; }
done
if [ -n "$MATCHBOX_SERVER" ] && ! [ -x "$MATCHBOX_SERVER" ]; then
    echo "error: MATCHBOX_SERVER=$MATCHBOX_SERVER is not an executable" >&2
    exit 1
fi
for scenario in "${scenarios[@]}"; do
    case $scenario in
        *-cluster) command -v redis-server >/dev/null || { echo "error: $scenario needs redis-server (apt-get install redis-server)" >&2; exit 1; } ;;
        mesh-matchbox) [ -x "$MATCHBOX_SERVER" ] || { echo "error: mesh-matchbox needs MATCHBOX_SERVER=/path/to/matchbox_server" >&2; exit 1; } ;;
    esac
    case $scenario in
        mesh | mesh-matchbox) [ -z "$TLS" ] || { echo "error: the mesh port is plain ws://; run $scenario without TLS=1" >&2; exit 1; } ;;
    esac
done
command -v jq >/dev/null || { echo "error: jq is needed for the medians" >&2; exit 1; }
# 5,000 idle clients and 5,000 server sockets, in two processes.
ulimit -n 20000
mkdir -p "$OUT"

# The server: defaults, except no log file and warnings only.
export SIGNAL_FISH_PORT=$PORT SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING=false RUST_LOG=warn
bench_args=()
[ -n "${SYSCALLS:-}" ] && bench_args+=(--count-syscalls)
if [ -n "$TLS" ]; then
    command -v openssl >/dev/null || { echo "error: TLS=1 needs openssl for the test certificate" >&2; exit 1; }
    # A CA and a localhost certificate it signs (rustls refuses a self-signed CA
    # certificate used as the server's own).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/tls-ca-key.pem" \
        -out "$OUT/tls-ca.pem" -days 2 -subj /CN=signal-fish-bench-ca 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/tls-key.pem" \
        -out "$OUT/tls.csr" -subj /CN=localhost 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$OUT/tls-ext.cnf"
    openssl x509 -req -in "$OUT/tls.csr" -CA "$OUT/tls-ca.pem" -CAkey "$OUT/tls-ca-key.pem" -CAcreateserial \
        -out "$OUT/tls-cert.pem" -days 2 -extfile "$OUT/tls-ext.cnf" 2>/dev/null
    export SIGNAL_FISH_SECURITY__TRANSPORT__TLS__ENABLED=true \
        SIGNAL_FISH_SECURITY__TRANSPORT__TLS__CERTIFICATE_PATH="$OUT/tls-cert.pem" \
        SIGNAL_FISH_SECURITY__TRANSPORT__TLS__PRIVATE_KEY_PATH="$OUT/tls-key.pem"
    bench_args=(--tls-ca "$OUT/tls-ca.pem")
fi
server_pid=""
# A cluster's other node and its Redis, for the *-cluster scenarios.
NODE_B_PORT=$((PORT + 10))
REDIS_PORT=$((PORT + 20))
extra_pids=()
stop_server() {
    # The nodes before Redis (extra_pids holds Redis first), so they can leave the cluster.
    local pids=($server_pid)
    for ((i = ${#extra_pids[@]} - 1; i >= 0; i--)); do pids+=("${extra_pids[i]}"); done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    server_pid=""
    extra_pids=()
}
wait_for_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "error: nothing listened on port $1 within 5 s (see $OUT/*.log)" >&2
    exit 1
}
trap stop_server EXIT
# Starts the server a scenario runs against, pinned to core 0, and waits until it
# listens on the port the generator will use.
start_server() {
    local port=$PORT
    case $1 in
        mesh)
            # shellcheck disable=SC2086
            SIGNAL_FISH_MESH__ENABLED=true taskset -c 0 "$SERVER" $SERVER_ARGS >>"$OUT/server.log" 2>&1 &
            port=$MESH_PORT
            ;;
        mesh-matchbox)
            taskset -c 0 "$MATCHBOX_SERVER" "127.0.0.1:$MESH_PORT" >>"$OUT/matchbox_server.log" 2>&1 &
            port=$MESH_PORT
            ;;
        *-cluster)
            taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >>"$OUT/redis.log" 2>&1 &
            extra_pids+=($!)
            wait_for_port "$REDIS_PORT"
            local url="redis://127.0.0.1:$REDIS_PORT"
            # shellcheck disable=SC2086
            SIGNAL_FISH_PORT=$NODE_B_PORT SIGNAL_FISH_CLUSTER__REDIS_URL=$url SIGNAL_FISH_CLUSTER__NODE_ID=b \
                taskset -c 0 "$SERVER" $SERVER_ARGS >>"$OUT/server-b.log" 2>&1 &
            extra_pids+=($!)
            wait_for_port "$NODE_B_PORT"
            # shellcheck disable=SC2086
            SIGNAL_FISH_CLUSTER__REDIS_URL=$url SIGNAL_FISH_CLUSTER__NODE_ID=a \
                taskset -c 0 "$SERVER" $SERVER_ARGS >>"$OUT/server.log" 2>&1 &
            ;;
        *)
            # shellcheck disable=SC2086
            taskset -c 0 "$SERVER" $SERVER_ARGS >>"$OUT/server.log" 2>&1 &
            ;;
    esac
    server_pid=$!
    wait_for_port "$port"
}

# The generator's command line of a scenario.
command_of() {
    case $1 in
        fixed-rate-60hz) echo "fixed-rate --clients 500 --hz 60" ;;
        fixed-rate-by-room) echo "fixed-rate --stagger by-room" ;;
        relay-cluster) echo "relay" ;;
        fixed-rate-cluster) echo "fixed-rate" ;;
        mesh | mesh-matchbox) echo "mesh" ;;
        *) echo "$1" ;;
    esac
}

# The address the generator aims at.
target_of() {
    case $1 in
        mesh | mesh-matchbox) echo "127.0.0.1:$MESH_PORT" ;;
        *) echo "127.0.0.1:$PORT" ;;
    esac
}

# The figures each scenario is judged by (jq paths into the JSON summary); traffic
# scenarios also give the server's cost per inbound message.
headline() {
    local cost='.server_cpu_us_per_message, .server_syscalls_per_message, .server_context_switches_per_message'
    case $1 in
        relay | relay-cluster) echo ".deliveries_per_server_cpu_sec, .lost, .duplicated, .reordered, .latency.p50_us, .latency.p99_us, $cost" ;;
        fixed-rate | fixed-rate-60hz | fixed-rate-by-room | fixed-rate-cluster)
            echo ".latency.p99_us, .latency.p50_us, .achieved_hz_per_client, .lost, $cost" ;;
        join-storm) echo '.joins_per_server_cpu_sec, .connect_to_joined.p99_us, .joins_per_sec, .join_failed, .server_cpu_us_per_join, .server_syscalls_per_join' ;;
        idle) echo '.rss_per_connection_bytes, .server_cpu_percent, .rss_total_per_connection_bytes, .closed_during_hold' ;;
        mesh | mesh-matchbox)
            echo '.signals_per_server_cpu_sec, .server_cpu_us_per_signal, .rss_per_peer_bytes, .peers_per_gib, .connect_to_id_assigned.p50_us, .connect_to_id_assigned.p99_us, .last_joiner_to_room_announced.p50_us, .last_joiner_to_room_announced.p99_us, .latency.p50_us, .latency.p99_us, .lost, .duplicated, .reordered, .join_failed' ;;
    esac
}

# One run of a scenario against a fresh server.
run_once() {
    local scenario=$1 run=$2
    start_server "$scenario"
    echo "== $scenario run $run/$RUNS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    local cluster_args=()
    case $scenario in
        *-cluster)
            cluster_args=(--also-server "127.0.0.1:$NODE_B_PORT")
            for pid in "${extra_pids[@]}"; do cluster_args+=(--also-pid "$pid"); done
            ;;
    esac
    # shellcheck disable=SC2046 # the command is words
    taskset -c 1 "$BENCH" --server "$(target_of "$scenario")" --server-pid "$server_pid" "${bench_args[@]}" "${cluster_args[@]}" $(command_of "$scenario") \
        | tee "$OUT/$scenario-$run.txt"
    tail -n 1 "$OUT/$scenario-$run.txt" >>"$OUT/$scenario.jsonl"
    stop_server
    sleep 1
}

medians() {
    local scenario=$1
    echo "== $scenario: median of $RUNS runs of [$(headline "$scenario")]; load averages:" \
        "$(jq -r '.load_average_1m' "$OUT/$scenario.jsonl" | paste -sd' ');" \
        "other processes' CPU (% of a core): $(jq -r '.other_processes_cpu_percent' "$OUT/$scenario.jsonl" | paste -sd' ')"
    jq -s "[.[] | [$(headline "$scenario")]] | transpose | map(sort | .[length / 2 | floor])" -c \
        "$OUT/$scenario.jsonl"
}

for scenario in "${scenarios[@]}"; do
    [ -n "$(headline "$scenario")" ] || { echo "error: unknown scenario $scenario" >&2; exit 1; }
    if [ "$scenario" = mesh ] && [ -n "$MATCHBOX_SERVER" ]; then
        # The two servers alternately, then the medians of each.
        : >"$OUT/mesh.jsonl"
        : >"$OUT/mesh-matchbox.jsonl"
        for run in $(seq "$RUNS"); do
            run_once mesh "$run"
            run_once mesh-matchbox "$run"
        done
        medians mesh
        medians mesh-matchbox
        continue
    fi
    : >"$OUT/$scenario.jsonl"
    for run in $(seq "$RUNS"); do
        run_once "$scenario" "$run"
    done
    medians "$scenario"
done
