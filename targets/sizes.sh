#!/usr/bin/env bash
# Print the router binaries' size table and which crates take the bytes:
#   targets/sizes.sh                 # builds the four triples (targets/build.sh), then
#                                    # a symbol breakdown of the mipsel build
# The breakdown comes from a second mipsel build that keeps its symbols
# (target/symbols/...), read with nm and grouped by crate (targets/crates.py).
set -euo pipefail
cd "$(dirname "$0")/.."
triples="mips-unknown-linux-musl mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl"
for t in $triples; do targets/build.sh "$t" >/dev/null 2>&1 || targets/build.sh "$t"; done
HASHMUX_KEEP_SYMBOLS=1 targets/build.sh mipsel-unknown-linux-musl >/dev/null 2>&1 \
  || HASHMUX_KEEP_SYMBOLS=1 targets/build.sh mipsel-unknown-linux-musl

echo "| target | stripped bytes | of the 1 MiB budget |"
echo "|---|---:|---:|"
for t in $triples; do
  s=$(stat -c %s "target/$t/release/hashmux")
  echo "| $t | $(python3 -c "print(f'{$s:,}')") | $((s * 100 / 1048576)) % |"
done
echo
nm -S --size-sort -C target/symbols/mipsel-unknown-linux-musl/release/hashmux \
  | python3 targets/crates.py "$(stat -c %s target/mipsel-unknown-linux-musl/release/hashmux)"
