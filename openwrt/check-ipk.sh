#!/usr/bin/env bash
# Check the layout of built .ipk files (CI runs this after openwrt/build-ipk.sh):
#   openwrt/check-ipk.sh target/openwrt/*.ipk
# Unpacks each package and checks: the three members, control fields, conffiles, file modes,
# the binary's architecture (static; soft-float on MIPS), the init script with `sh -n`, and
# that the packaged binary accepts the packaged default config (run under qemu-user when the
# emulator is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "FAIL $ipk: $*" >&2; exit 1; }

for ipk in "$@"; do
  arch=$(basename "$ipk" .ipk | sed 's/^hashmux_[^_]*_//')
  work=$(mktemp -d)
  tar -xzf "$ipk" -C "$work" || fail "not a gzipped tar"
  members=$(tar -tzf "$ipk" | sort | tr '\n' ' ')
  [ "$members" = "./control.tar.gz ./data.tar.gz ./debian-binary " ] || fail "members: $members"
  [ "$(cat "$work/debian-binary")" = "2.0" ] || fail "debian-binary is not 2.0"
  mkdir "$work/control" "$work/data"
  tar -xzf "$work/control.tar.gz" -C "$work/control"
  tar -xzf "$work/data.tar.gz" -C "$work/data"
  c="$work/control/control"
  field() { sed -n "s/^$1: //p" "$c"; }
  [ "$(field Package)" = hashmux ] || fail "Package field"
  [ "$(field Architecture)" = "$arch" ] || fail "Architecture $(field Architecture) != $arch"
  [ -n "$(field Version)" ] || fail "no Version"
  [ "$(field Installed-Size)" -gt 0 ] || fail "no Installed-Size"
  grep -qx /etc/hashmux/config.json "$work/control/conffiles" || fail "conffiles"
  for s in postinst prerm; do sh -n "$work/control/$s" || fail "$s syntax"; done
  bin="$work/data/usr/bin/hashmux"
  init="$work/data/etc/init.d/hashmux"
  [ -x "$bin" ] || fail "usr/bin/hashmux missing or not executable"
  [ -x "$init" ] || fail "etc/init.d/hashmux missing or not executable"
  [ -f "$work/data/etc/hashmux/config.json" ] || fail "etc/hashmux/config.json missing"
  grep -qx /etc/hashmux/hashmux-sv2.key "$work/data/lib/upgrade/keep.d/hashmux" \
    || fail "sysupgrade does not keep the SV2 authority key"
  sh -n "$init" || fail "init script syntax"
  grep -q '^USE_PROCD=1' "$init" || fail "init script is not procd"
  grep -q 'procd_set_param respawn' "$init" || fail "init script does not respawn"
  grep -q 'HUP' "$init" || fail "init reload does not send SIGHUP"
  desc=$(file -b "$bin")
  case "$arch" in
    mips_24kc) want="MSB executable, MIPS"; emu="qemu-mips -cpu 24Kc" ;;
    mipsel_24kc) want="LSB executable, MIPS"; emu="qemu-mipsel -cpu 24Kc" ;;
    arm_cortex-a7_neon-vfpv4) want="LSB executable, ARM, EABI5"; emu="qemu-arm -cpu cortex-a7" ;;
    aarch64_cortex-a53) want="LSB executable, ARM aarch64"; emu="qemu-aarch64 -cpu cortex-a53" ;;
    *) fail "unknown architecture $arch" ;;
  esac
  case "$desc" in *"$want"*) ;; *) fail "binary is '$desc', expected '$want'" ;; esac
  case "$desc" in *"statically linked"*) ;; *) fail "binary is not static: $desc" ;; esac
  case "$arch" in
    mips*) readelf -A "$bin" | grep -q 'FP ABI: Soft float' || fail "MIPS binary is not soft-float" ;;
  esac
  if command -v "${emu%% *}" >/dev/null 2>&1; then
    (cd "$work/data" && $emu ./usr/bin/hashmux --config etc/hashmux/config.json --check) \
      || fail "packaged binary refuses the packaged config"
    ran="config checked under ${emu%% *}"
  else
    ran="${emu%% *} not installed, config not run"
  fi
  rm -rf "$work"
  echo "ok $ipk ($arch, $(stat -c %s "$ipk") bytes, $ran)"
done
