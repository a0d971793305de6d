#!/usr/bin/env bash
# Build installable OpenWrt 24.10 .ipk packages from the static router binaries:
#   openwrt/build-ipk.sh                      # all four architectures
#   openwrt/build-ipk.sh mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf
# Each triple is built with targets/build.sh first. Output: target/openwrt/*.ipk
# An ipk is a gzipped tar of ./debian-binary, ./data.tar.gz and ./control.tar.gz.
set -euo pipefail
cd "$(dirname "$0")/.."

arch_of() {
  case "$1" in
    mips-unknown-linux-musl) echo mips_24kc ;;
    mipsel-unknown-linux-musl) echo mipsel_24kc ;;
    armv7-unknown-linux-musleabihf) echo arm_cortex-a7_neon-vfpv4 ;;
    aarch64-unknown-linux-musl) echo aarch64_cortex-a53 ;;
    *) echo "error: no OpenWrt architecture for $1" >&2; return 1 ;;
  esac
}

if [ $# -eq 0 ]; then
  set -- mips-unknown-linux-musl mipsel-unknown-linux-musl \
         armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
release=1
out="target/openwrt"
mkdir -p "$out"
# Reproducible archives: fixed owner, order and time (the last commit's, else 0).
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tarx() { tar --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$epoch" "$@"; }

for triple in "$@"; do
  arch=$(arch_of "$triple")
  targets/build.sh "$triple"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/data/usr/bin" "$work/data/etc/init.d" "$work/data/etc/hashmux" "$work/data/etc/config" \
    "$work/data/lib/upgrade/keep.d" "$work/control"
  install -m 0755 "target/$triple/release/hashmux" "$work/data/usr/bin/hashmux"
  install -m 0755 openwrt/files/hashmux.init "$work/data/etc/init.d/hashmux"
  install -m 0600 openwrt/files/config.json "$work/data/etc/hashmux/config.json"
  # The UCI switch: installed with enabled 0, so the example config never starts.
  install -m 0600 openwrt/files/hashmux.uci "$work/data/etc/config/hashmux"
  # The SV2 authority key is made at first start, the stats file hourly; sysupgrade keeps both.
  install -m 0644 openwrt/files/hashmux.keep "$work/data/lib/upgrade/keep.d/hashmux"
  size=$(du -sb "$work/data" | cut -f1)
  cat > "$work/control/control" <<CONTROL
Package: hashmux
Version: $version-r$release
Source: feeds/packages/net/hashmux
SourceName: hashmux
License: MIT OR Apache-2.0
Section: net
URL: https://github.com/hashmux/hashmux
Architecture: $arch
Installed-Size: $size
Description:  Stratum mining proxy: splits home miners' work between pools by weight,
 fails over when a pool dies, stats page on port 8080.
CONTROL
  printf '%s\n' /etc/config/hashmux /etc/hashmux/config.json > "$work/control/conffiles"
  # As OpenWrt's buildroot writes it: default_postinst enables the init script and runs its
  # start, which does nothing while /etc/config/hashmux says enabled 0.
  cat > "$work/control/postinst" <<'SCRIPT'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
SCRIPT
  cat > "$work/control/prerm" <<'SCRIPT'
#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
SCRIPT
  chmod 0755 "$work/control/postinst" "$work/control/prerm"
  echo "2.0" > "$work/pkg-debian-binary"
  mkdir "$work/pkg"
  mv "$work/pkg-debian-binary" "$work/pkg/debian-binary"
  (cd "$work/data" && tarx -cf - .) | gzip -9n > "$work/pkg/data.tar.gz"
  (cd "$work/control" && tarx -cf - .) | gzip -9n > "$work/pkg/control.tar.gz"
  ipk="$out/hashmux_${version}-r${release}_${arch}.ipk"
  (cd "$work/pkg" && tarx -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -9n > "$ipk"
  rm -rf "$work"
  trap - EXIT
  echo "$ipk $(stat -c %s "$ipk") bytes"
done
