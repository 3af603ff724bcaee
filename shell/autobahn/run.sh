#!/usr/bin/env bash
# The Autobahn|Testsuite (fuzzing client, cases 1.* to 10.*) against the server's own
# WebSocket transport: the `echo` example (signal_fish_server::echo) on a free loopback
# port. Sections 12 and 13 (permessage-deflate) are left out: the server does not
# negotiate the extension.
#
# The suite runs only on Python 2.7. It is installed, on first use, into a virtualenv
# in a cache outside the tree (below), reused after that. Without Python 2.7 the run is
# skipped with one line, except in CI (CI=true), where that is a failure.
#
# Exits non-zero when any case's behavior or behaviorClose is not OK, NON-STRICT or
# INFORMATIONAL; prints one tally line. The full report (HTML and JSON) is left in
# $AUTOBAHN_REPORT_DIR (default target/autobahn).
#
# Environment:
#   AUTOBAHN_CACHE       the cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/signal-fish/autobahn)
#   AUTOBAHN_PYTHON27    a Python 2.7 interpreter (default: python2.7 or python2 on PATH,
#                        else pyenv's newest 2.7)
#   AUTOBAHN_PROFILE     cargo profile of the echo example: release (default) or dev
#   AUTOBAHN_REPORT_DIR  where the report goes (default target/autobahn)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${AUTOBAHN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/signal-fish/autobahn}"
profile="${AUTOBAHN_PROFILE:-release}"
report_dir="${AUTOBAHN_REPORT_DIR:-$root/target/autobahn}"
suite="autobahntestsuite==25.10.1"

# Bounds on every wait, in seconds.
INSTALL_TIMEOUT=900
BUILD_TIMEOUT=1800
START_TIMEOUT=30
SUITE_TIMEOUT=900
STOP_TIMEOUT=10

say() { echo "autobahn: $*"; }
fail() {
  echo "autobahn: error: $*" >&2
  exit 1
}
# A missing prerequisite: a skip on a developer's machine, a failure in CI.
missing() {
  if [ "${CI:-}" = "true" ]; then
    fail "$* (CI=true: the conformance run may not be skipped)"
  fi
  say "skipped: $*"
  exit 0
}

case "$profile" in
  release) profile_flag=(--release) profile_dir=release ;;
  dev) profile_flag=() profile_dir=debug ;;
  *) fail "AUTOBAHN_PROFILE must be release or dev, not $profile" ;;
esac

is_python27() {
  [ -n "$1" ] && timeout 20 "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1
}

find_python27() {
  local candidate
  if [ -n "${AUTOBAHN_PYTHON27:-}" ]; then
    if is_python27 "$AUTOBAHN_PYTHON27"; then
      echo "$AUTOBAHN_PYTHON27"
    fi
    return 0
  fi
  for candidate in "$(command -v python2.7 || true)" "$(command -v python2 || true)"; do
    if is_python27 "$candidate"; then
      echo "$candidate"
      return
    fi
  done
  # pyenv's interpreters, newest last (a shim on PATH fails unless 2.7 is selected).
  for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7 2>/dev/null | sort -V -r); do
    if is_python27 "$candidate"; then
      echo "$candidate"
      return
    fi
  done
}

command -v python3 >/dev/null || missing "no python3"
py27="$(find_python27 || true)"
[ -n "$py27" ] || missing "no Python 2.7 (the Autobahn|Testsuite needs it; set AUTOBAHN_PYTHON27)"

# Installs the suite into $cache/venv unless the same installation is there.
install_suite() {
  local stamp log
  stamp="$("$py27" -c 'import sys; print(sys.version.split()[0])') $suite $(sha256sum "$here/requirements-py27.txt" | cut -c1-16)"
  if [ -x "$cache/venv/bin/wstest" ] && [ "$(cat "$cache/venv/.signal-fish-stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  say "installing the suite into $cache (once; log: $cache/install.log)"
  rm -rf "$cache/tools" "$cache/venv"
  log="$cache/install.log"
  : >"$log"
  local step
  for step in \
    "python3 -m venv $cache/tools" \
    "$cache/tools/bin/pip install virtualenv<20.22" \
    "$cache/tools/bin/virtualenv -p $py27 $cache/venv" \
    "$cache/venv/bin/pip install -r $here/requirements-py27.txt" \
    "$cache/venv/bin/pip install --no-deps $suite"; do
    echo "+ $step" >>"$log"
    # Word splitting is wanted: no path here has spaces (checked before the install).
    # shellcheck disable=SC2086
    if ! timeout "$INSTALL_TIMEOUT" $step >>"$log" 2>&1; then
      tail -n 30 "$log" >&2
      fail "installing the suite failed at: $step"
    fi
  done
  echo "$stamp" >"$cache/venv/.signal-fish-stamp"
}

case "$cache$here$py27" in
  *" "*) fail "paths with spaces are not supported: $cache, $here, $py27" ;;
esac
mkdir -p "$cache"
# One installer at a time per cache.
exec 9>"$cache/lock"
flock -w "$INSTALL_TIMEOUT" 9 || fail "another run holds $cache/lock"
install_suite
exec 9>&-

# The echo example, built with the project's toolchain.
say "building the echo example ($profile)"
timeout "$BUILD_TIMEOUT" cargo build --quiet "${profile_flag[@]}" -p signal-fish-server --example echo \
  --manifest-path "$root/Cargo.toml" || fail "cargo build of the echo example failed"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
echo_bin="$target_dir/$profile_dir/examples/echo"
[ -x "$echo_bin" ] || fail "no echo example at $echo_bin"

work="$(mktemp -d)"
echo_pid=""
cleanup() {
  if [ -n "$echo_pid" ] && kill -0 "$echo_pid" 2>/dev/null; then
    kill -KILL "$echo_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

rm -rf "$report_dir"
mkdir -p "$report_dir"
: >"$report_dir/echo.log"
"$echo_bin" 127.0.0.1:0 >>"$report_dir/echo.log" 2>&1 &
echo_pid=$!
url=""
for _ in $(seq $((START_TIMEOUT * 10))); do
  url="$(grep -m1 -o 'ws://[^ ]*' "$report_dir/echo.log" || true)"
  [ -n "$url" ] && break
  kill -0 "$echo_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || {
  cat "$report_dir/echo.log" >&2
  fail "the echo example did not start within ${START_TIMEOUT}s"
}
say "echo example (pid $echo_pid) on $url"

python3 - "$here/fuzzingclient.json" "$work/spec.json" "$url" "$report_dir" <<'EOF'
import json, sys
template, out, url, outdir = sys.argv[1:]
with open(template) as f:
    spec = json.load(f)
spec["outdir"] = outdir
spec["servers"][0]["url"] = url
with open(out, "w") as f:
    json.dump(spec, f, indent=2)
EOF

say "running the fuzzing client (cases 1.* to 10.*)"
started=$SECONDS
if ! (cd "$work" && timeout "$SUITE_TIMEOUT" "$cache/venv/bin/wstest" -m fuzzingclient -s "$work/spec.json") \
  >"$report_dir/wstest.log" 2>&1; then
  tail -n 30 "$report_dir/wstest.log" >&2
  fail "wstest failed or took longer than ${SUITE_TIMEOUT}s (log: $report_dir/wstest.log)"
fi
say "the suite took $((SECONDS - started))s; report: $report_dir/index.html"

# The echo server must have lived through the suite, and stop cleanly on SIGTERM.
kill -0 "$echo_pid" 2>/dev/null || fail "the echo example died during the suite (log: $report_dir/echo.log)"
kill -TERM "$echo_pid"
stopped=""
for _ in $(seq $((STOP_TIMEOUT * 10))); do
  if ! kill -0 "$echo_pid" 2>/dev/null; then
    stopped=yes
    break
  fi
  sleep 0.1
done
[ -n "$stopped" ] || fail "the echo example did not stop within ${STOP_TIMEOUT}s of SIGTERM"
status=0
wait "$echo_pid" || status=$?
echo_pid=""
[ "$status" -eq 0 ] || fail "the echo example exited with status $status (log: $report_dir/echo.log)"

python3 "$here/report.py" "$report_dir/index.json"
