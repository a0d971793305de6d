#!/usr/bin/env bash
# Build a static, stripped, size-optimised router binary for one target triple:
#   targets/build.sh mipsel-unknown-linux-musl
# Triples: mips-unknown-linux-musl mipsel-unknown-linux-musl
#          armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl
# Installs what it needs (rust-src, cargo-zigbuild from PyPI into targets/.venv).
# Router builds leave out the simulator (`--no-default-features --features sv2`).
# HASHMUX_KEEP_SYMBOLS=1 keeps the symbols (for targets/sizes.sh) in a separate target dir
# and skips the size budget, which applies to the stripped binary.
set -euo pipefail
cd "$(dirname "$0")/.."
triple="${1:?usage: targets/build.sh TRIPLE}"

rustup component add rust-src >/dev/null 2>&1 || rustup component add rust-src
venv="targets/.venv"
if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet cargo-zigbuild
fi
export PATH="$PWD/$venv/bin:$PATH"

# Router builds carry Stratum V2 (`sv2`) but not the simulator; HASHMUX_FEATURES overrides
# (e.g. HASHMUX_FEATURES= for an SV1-only build, to measure what SV2 costs).
features="${HASHMUX_FEATURES-sv2}"
target_dir=target
if [ "${HASHMUX_KEEP_SYMBOLS:-0}" = 1 ]; then
  target_dir=target/symbols
  export CARGO_PROFILE_RELEASE_STRIP=false
fi
# panic=immediate-abort: a panic aborts at once, with no message or unwinding machinery
# (procd restarts the daemon); it takes about a third off the binary.
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target_dir" \
RUSTFLAGS="--cfg chacha20_force_soft --cfg poly1305_force_soft -C target-feature=+crt-static -C link-self-contained=no -Zlocation-detail=none -Zfmt-debug=shallow -Zunstable-options -Cpanic=immediate-abort" \
  cargo zigbuild --release --no-default-features --features "$features" -Zbuild-std=std,panic_abort --target "$triple" --bin hashmux

bin="$target_dir/$triple/release/hashmux"
size=$(stat -c %s "$bin")
echo "$triple: $bin $size bytes"
file "$bin" 2>/dev/null || true
case "$triple" in
  mips*) readelf -A "$bin" | grep -i 'FP ABI' || true ;;
esac
if [ "$target_dir" = target ] && [ "$size" -gt 1048576 ]; then
  echo "error: $bin is $size bytes, over the 1 MB budget" >&2
  exit 1
fi
