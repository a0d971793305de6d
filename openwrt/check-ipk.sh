#!/usr/bin/env bash
# Check the OpenWrt package as far as it can be checked without an SDK or a router:
#   openwrt/check-ipk.sh                         # the package sources only
#   openwrt/check-ipk.sh target/openwrt/*.ipk    # and built packages (CI, after build-ipk.sh)
# Sources: the feed Makefile (builds with SV2, conffiles, LICENSE files that exist), the UCI
# file (installed disabled), the init script (procd file/stdout/stderr/respawn/reload_signal,
# reload trigger; run with stubbed procd and UCI functions: disabled opens no instance, the
# example config is refused, a real one gets the instance parameters), keep.d (SV2 key and
# stats file) and the shipped config (refused by `--check` until its example account is
# replaced; needs a host build, target/debug/hashmux or $HASHMUX_HOST_BIN).
# Each .ipk: the three members, control fields, conffiles, file modes, the binary's
# architecture (static; soft-float on MIPS), the init script with `sh -n`, and the packaged
# binary refusing the packaged example config and accepting it with a real account (run under
# qemu-user when the emulator is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

ipk=sources
fail() { echo "FAIL $ipk: $*" >&2; exit 1; }

makefile=openwrt/Makefile
init=openwrt/files/hashmux.init
uci=openwrt/files/hashmux.uci
keep=openwrt/files/hashmux.keep
shipped=openwrt/files/config.json
host_bin=${HASHMUX_HOST_BIN:-target/debug/hashmux}
# A real-looking payout address for the example account (any bech32 text passes the check).
real_account=bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq

# The text between `define Package/hashmux/<what>` and `endef`.
mk_block() { sed -n "/^define Package\/hashmux\/$1\$/,/^endef/p" "$makefile" | sed '1d;$d'; }

# Checks an init script's text (the source or the packaged copy).
check_init_text() {
  local f=$1
  sh -n "$f" || fail "init script syntax"
  grep -q '^USE_PROCD=1' "$f" || fail "init script is not procd"
  grep -q 'config_load hashmux' "$f" || fail "init script does not read /etc/config/hashmux"
  for p in 'file "$conf"' 'stdout 1' 'stderr 1' 'respawn' 'reload_signal HUP'; do
    grep -qF "procd_set_param $p" "$f" || fail "init script lacks procd_set_param $p"
  done
  grep -q 'procd_add_reload_trigger hashmux' "$f" || fail "no reload trigger for the UCI config"
}

# --- the feed Makefile ---
grep -q -- '--no-default-features' "$makefile" && ! grep -q -- '--features sv2' "$makefile" \
  && fail "Makefile builds without default features and without sv2: no Stratum V2"
grep -q 'Build/Compile/Cargo' "$makefile" || fail "Makefile does not build with cargo"
cargo_license=$(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml)
[ "$(sed -n 's/^PKG_LICENSE:=//p' "$makefile")" = "$cargo_license" ] \
  || fail "PKG_LICENSE differs from Cargo.toml's license ($cargo_license)"
license_files=$(sed -n 's/^PKG_LICENSE_FILES:=//p' "$makefile")
[ -n "$license_files" ] || fail "no PKG_LICENSE_FILES"
for l in $license_files; do [ -s "$l" ] || fail "PKG_LICENSE_FILES names $l, which does not exist"; done
conffiles=$(mk_block conffiles)
for c in /etc/config/hashmux /etc/hashmux/config.json; do
  grep -qx "$c" <<<"$conffiles" || fail "Makefile conffiles lack $c"
done
grep -q 'stats' <<<"$conffiles" && fail "the stats file is state, not a conffile"
install_block=$(mk_block install)
grep -qF './files/hashmux.uci $(1)/etc/config/hashmux' <<<"$install_block" \
  || fail "Makefile does not install the UCI file as /etc/config/hashmux"
grep -qF './files/hashmux.keep $(1)/lib/upgrade/keep.d/hashmux' <<<"$install_block" \
  || fail "Makefile does not install keep.d"

# --- UCI file, keep.d, init script ---
grep -q "^config hashmux 'main'" "$uci" || fail "UCI file has no 'main' section"
grep -q "option enabled '0'" "$uci" || fail "UCI file does not install disabled"
grep -q "option config '/etc/hashmux/config.json'" "$uci" || fail "UCI file: config path"
stats_file=$(sed -n 's/.*"stats": *{"file": *"\([^"]*\)".*/\1/p' "$shipped")
[ -n "$stats_file" ] || fail "shipped config has no stats file"
for k in /etc/hashmux/hashmux-sv2.key "$stats_file"; do
  grep -qx "$k" "$keep" || fail "keep.d does not keep $k across sysupgrade"
done
check_init_text "$init"

# Run start_service with procd and UCI stubbed: prints what procd would be told.
run_init() { # enabled, config path, hashmux binary
  UCI_enabled=$1 UCI_config=$2 HASHMUX=$3 INIT=$init sh -c '
    config_load() { [ "$1" = hashmux ]; }
    config_get() { eval "$1=\${UCI_$3:-$4}"; }
    config_get_bool() { eval "$1=\${UCI_$3:-$4}"; }
    procd_open_instance() { echo "open"; }
    procd_set_param() { echo "param $*"; }
    procd_close_instance() { echo "close"; }
    logger() { :; }
    . "$INIT"
    PROG=$HASHMUX
    start_service; echo "rc $?"' 2>&1
}
out=$(run_init 0 /nonexistent /bin/false)
grep -q '^open' <<<"$out" && fail "disabled, the init script still starts hashmux: $out"
grep -q '^rc 0' <<<"$out" || fail "disabled start does not succeed quietly: $out"
grep -q 'uci set hashmux.main.enabled=1' <<<"$out" || fail "disabled start does not say how to enable"
if [ -x "$host_bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  out=$(run_init 1 "$shipped" "$host_bin")
  grep -q '^open' <<<"$out" && fail "the example config starts: $out"
  grep -q 'pools\[0\].user: still the example account' <<<"$out" \
    || fail "the example config is not refused by name: $out"
  sed "s/bc1qyourbitcoinaddress/$real_account/" "$shipped" > "$tmp/config.json"
  out=$(run_init 1 "$tmp/config.json" "$host_bin")
  for p in "param command $host_bin --config $tmp/config.json" "param file $tmp/config.json" \
           'param stdout 1' 'param stderr 1' 'param reload_signal HUP' 'param respawn'; do
    grep -qF "$p" <<<"$out" || fail "enabled start lacks '$p': $out"
  done
  grep -q '^rc 0' <<<"$out" || fail "enabled start fails: $out"
  rm -rf "$tmp"
  trap - EXIT
  ran="init script run with stubs against $host_bin"
else
  ran="no host build at $host_bin: init script not run"
fi
echo "ok sources ($ran)"

# --- built packages ---
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
  [ "$(field License)" = "$cargo_license" ] || fail "License field"
  for f in /etc/config/hashmux /etc/hashmux/config.json; do
    grep -qx "$f" "$work/control/conffiles" || fail "conffiles lack $f"
  done
  grep -q stats "$work/control/conffiles" && fail "the stats file is in conffiles"
  for s in postinst prerm; do sh -n "$work/control/$s" || fail "$s syntax"; done
  grep -Eq '(^|[^_])(start|enable)( |$)' "$work/control/postinst" \
    && fail "postinst starts or enables hashmux itself"
  bin="$work/data/usr/bin/hashmux"
  pinit="$work/data/etc/init.d/hashmux"
  [ -x "$bin" ] || fail "usr/bin/hashmux missing or not executable"
  [ -x "$pinit" ] || fail "etc/init.d/hashmux missing or not executable"
  [ -f "$work/data/etc/hashmux/config.json" ] || fail "etc/hashmux/config.json missing"
  cmp -s "$work/data/etc/config/hashmux" "$uci" || fail "etc/config/hashmux missing or not the UCI file"
  cmp -s "$work/data/lib/upgrade/keep.d/hashmux" "$keep" || fail "keep.d/hashmux missing or differs"
  check_init_text "$pinit"
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
    cfg="$work/data/etc/hashmux/config.json"
    if out=$(cd "$work/data" && $emu ./usr/bin/hashmux --config etc/hashmux/config.json --check 2>&1); then
      fail "packaged binary accepts the example account: $out"
    fi
    grep -q 'pools\[0\].user: still the example account' <<<"$out" || fail "refusal does not name the field: $out"
    sed -i "s/bc1qyourbitcoinaddress/$real_account/" "$cfg"
    (cd "$work/data" && $emu ./usr/bin/hashmux --config etc/hashmux/config.json --check) \
      || fail "packaged binary refuses the packaged config with a real account"
    ran="config checked under ${emu%% *}"
  else
    ran="${emu%% *} not installed, config not run"
  fi
  rm -rf "$work"
  echo "ok $ipk ($arch, $(stat -c %s "$ipk") bytes, $ran)"
done
