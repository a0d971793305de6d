#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ and runs each one for
# FUZZ_SECONDS (default 60) from its committed seed corpus, one target at a time, one job.
# Fails if any target crashes, times out or runs out of memory; prints each target's
# execution count. Runs on a clean clone with CI=true and no stdin; installs cargo-fuzz
# itself. There is no nightly toolchain: RUSTC_BOOTSTRAP=1 lets stable take cargo-fuzz's
# -Zsanitizer flags.
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset),
# FUZZ_TARGET_DIR (build dir, default fuzz/target, git-ignored; each run's libFuzzer log is
# kept in its fuzz-logs/).
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/fuzz/target}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$TARGET_DIR"

step() { printf '\n=== %s (at %d s) ===\n' "$*" "$SECONDS"; }

step "cargo-fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version
if ! command -v c++ >/dev/null 2>&1; then # libfuzzer-sys compiles libFuzzer (C++)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi

cd fuzz
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}

step "build: $(echo $targets)"
cargo fuzz build --target-dir "$TARGET_DIR"

# New corpus entries go to a scratch directory: fuzz/corpus keeps only the committed seeds.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
summary=()
for t in $targets; do
  step "run $t for ${FUZZ_SECONDS} s"
  mkdir -p "$scratch/corpus/$t" "artifacts/$t" "$TARGET_DIR/fuzz-logs"
  log="$TARGET_DIR/fuzz-logs/$t.log"
  start=$SECONDS
  set +e
  cargo fuzz run --target-dir "$TARGET_DIR" "$t" "$scratch/corpus/$t" "corpus/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$PWD/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  wall=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ -z "$execs" ]; then
    execs=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)
  fi
  execs=${execs:-?}
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" || true
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    summary+=("$(printf '%-16s %12s execs in %4d s  ok' "$t" "$execs" "$wall")")
  else
    failed=$((failed + 1))
    summary+=("$(printf '%-16s %12s execs in %4d s  FAILED (exit %d)' "$t" "$execs" "$wall" "$rc")")
    echo "--- $t failed (exit $rc):"
    grep -m1 -A4 -E 'panicked at|==[0-9]+==ERROR|ERROR: libFuzzer' "$log" || true
    grep -E '^SUMMARY: ' "$log" || true
    echo "--- end of its log ($log):"
    tail -30 "$log"
    for f in $(grep -o 'Test unit written to [^ ]*' "$log" | sed 's/Test unit written to //'); do
      echo "--- reproducer $f ($(wc -c <"$f") bytes), hex:"
      od -An -v -tx1 "$f" | tr -d ' \n'
      echo
      echo "--- replay: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $t $f)"
    done
  fi
done

step "summary"
printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
