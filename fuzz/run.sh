#!/usr/bin/env bash
# Runs one fuzz target for a number of seconds on the stable toolchain.
#
#   fuzz/run.sh TARGET SECONDS        e.g. fuzz/run.sh engine_sequence 600
#
# cargo-fuzz needs `-Zsanitizer=address`, which stable rustc accepts only with
# RUSTC_BOOTSTRAP=1; that is all this script adds. New interesting inputs are written to
# fuzz/corpus/TARGET (commit the small ones: the normal test suite replays them), crashes
# to fuzz/artifacts/TARGET. A crash, once fixed, is kept as corpus/TARGET/regression-NAME
# (and as a scenario in scenarios/regressions/); re-add such files after `cargo fuzz cmin`,
# which renames or drops inputs by coverage.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 TARGET SECONDS   (targets: $(ls "$(dirname "$0")/fuzz_targets" | sed 's/\.rs$//' | tr '\n' ' '))" >&2
  exit 2
fi
target=$1
seconds=$2
case $seconds in ''|*[!0-9]*) echo "SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

cd "$(dirname "$0")"
if [ ! -f "fuzz_targets/$target.rs" ]; then
  echo "unknown target '$target'; choose one of: $(ls fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once)..." >&2
  cargo install cargo-fuzz --locked
fi
mkdir -p "corpus/$target"
export RUSTC_BOOTSTRAP=1
exec cargo fuzz run "$target" "corpus/$target" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
