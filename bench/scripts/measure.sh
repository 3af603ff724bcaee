#!/usr/bin/env bash
# Measures the performance targets of Signal Fish on this machine: each scenario runs
# RUNS times (default 3), each run against a fresh server process pinned to core 0,
# with the generator pinned to core 1. Prints every run's summary and the median of
# the headline figure per scenario, with the load average at each run.
#
#   cargo build --release -p signal-fish-server -p signal-fish-bench
#   bench/scripts/measure.sh                  # all scenarios
#   bench/scripts/measure.sh relay idle       # some of them
#
# Scenarios: relay, fixed-rate (1,000 clients x 20 Hz in rooms of 4), fixed-rate-60hz
# (500 clients x 60 Hz in rooms of 4), join-storm, idle.
#
# Environment: SERVER and BENCH (binaries; default target/release/…, or under
# $CARGO_TARGET_DIR), PORT (default 39536), RUNS (default 3), OUT (results directory,
# default bench-results), SERVER_ARGS (extra arguments for the server), TLS=1 (the same
# runs over wss://: the server must be built with `--features tls`; a certificate for
# localhost, signed by a CA made for the run, is made with openssl in $OUT and the
# generator trusts that CA with --tls-ca), SYSCALLS=1 (count the server's system calls
# per message with perf stat, --count-syscalls; tracing adds server CPU, so take the
# CPU figures from runs without it).
set -euo pipefail

dir=${CARGO_TARGET_DIR:-target}/release
SERVER=${SERVER:-$dir/signal-fish-server}
BENCH=${BENCH:-$dir/signal-fish-bench}
PORT=${PORT:-39536}
RUNS=${RUNS:-3}
OUT=${OUT:-bench-results}
SERVER_ARGS=${SERVER_ARGS:-}
TLS=${TLS:-}
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(relay fixed-rate fixed-rate-60hz join-storm idle)

for bin in "$SERVER" "$BENCH"; do
    [ -x "$bin" ] || { echo "error: $bin is not built (cargo build --release -p signal-fish-server -p signal-fish-bench)" >&2; exit 1; }
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
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT
start_server() {
    # shellcheck disable=SC2086
    taskset -c 0 "$SERVER" $SERVER_ARGS >>"$OUT/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "error: the server did not listen on port $PORT within 5 s (see $OUT/server.log)" >&2
    exit 1
}

# The generator's command line of a scenario.
command_of() {
    case $1 in
        fixed-rate-60hz) echo "fixed-rate --clients 500 --hz 60" ;;
        *) echo "$1" ;;
    esac
}

# The figures each scenario is judged by (jq paths into the JSON summary); traffic
# scenarios also give the server's cost per inbound message.
headline() {
    local cost='.server_cpu_us_per_message, .server_syscalls_per_message, .server_context_switches_per_message'
    case $1 in
        relay) echo ".deliveries_per_server_cpu_sec, .lost, .duplicated, .reordered, .latency.p99_us, $cost" ;;
        fixed-rate | fixed-rate-60hz)
            echo ".latency.p99_us, .latency.p50_us, .achieved_hz_per_client, .lost, $cost" ;;
        join-storm) echo '.joins_per_server_cpu_sec, .connect_to_joined.p99_us, .joins_per_sec, .join_failed, .server_cpu_us_per_join, .server_syscalls_per_join' ;;
        idle) echo '.rss_per_connection_bytes, .server_cpu_percent, .rss_total_per_connection_bytes, .closed_during_hold' ;;
    esac
}

for scenario in "${scenarios[@]}"; do
    [ -n "$(headline "$scenario")" ] || { echo "error: unknown scenario $scenario" >&2; exit 1; }
    : >"$OUT/$scenario.jsonl"
    for run in $(seq "$RUNS"); do
        start_server
        echo "== $scenario run $run/$RUNS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
        # shellcheck disable=SC2046 # the command is words
        taskset -c 1 "$BENCH" --server "127.0.0.1:$PORT" --server-pid "$server_pid" "${bench_args[@]}" $(command_of "$scenario") \
            | tee "$OUT/$scenario-$run.txt"
        tail -n 1 "$OUT/$scenario-$run.txt" >>"$OUT/$scenario.jsonl"
        stop_server
        sleep 1
    done
    echo "== $scenario: median of $RUNS runs of [$(headline "$scenario")]; load averages:" \
        "$(jq -r '.load_average_1m' "$OUT/$scenario.jsonl" | paste -sd' ');" \
        "other processes' CPU (% of a core): $(jq -r '.other_processes_cpu_percent' "$OUT/$scenario.jsonl" | paste -sd' ')"
    jq -s "[.[] | [$(headline "$scenario")]] | transpose | map(sort | .[length / 2 | floor])" -c \
        "$OUT/$scenario.jsonl"
done
