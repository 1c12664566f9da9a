#!/usr/bin/env bash
# Install real TORCS for saferl and build the saferl_scr robot (idempotent).
#
#   bash torcs-robot/install.sh          # build folder: torcs-robot/build
#   SAFERL_TORCS_HOME=DIR bash torcs-robot/install.sh
#
# 1. Debian packages torcs, torcs-data, libplib-dev, g++ (and xz-utils, to unpack the
#    source tarball): apt-get update + install, as root.
# 2. TORCS headers from `apt-get source torcs`, through a temporary deb-src list passed with
#    apt's -o options: /etc/apt is never modified.  Cached in torcs-robot/.src.
# 3. The robot, built into BUILD/lib/drivers/saferl_scr/saferl_scr.so, next to symlinks to
#    Debian's TORCS modules, so TORCS loads it from this private folder without root.
# A second run with everything in place takes well under a second.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${SAFERL_TORCS_HOME:-$HERE/build}
SRC_CACHE=$HERE/.src
PACKAGES=(torcs torcs-data libplib-dev g++ xz-utils)

say() { printf 'torcs-robot/install.sh: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

# -- 1. Debian packages ----------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing Debian packages: ${missing[*]}; install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  command -v apt-get >/dev/null || fail "missing Debian packages ${missing[*]} and no apt-get on this machine (saferl's TORCS support needs Debian or Ubuntu)"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed (no network or no Debian mirror?)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
fi

TORCS_BIN=$(dpkg-query -L torcs | grep '/torcs-bin$' | head -n1 || true)
[ -n "$TORCS_BIN" ] && [ -x "$TORCS_BIN" ] || fail "the torcs package is installed but torcs-bin was not found in it"
TORCS_LIBDIR=$(dirname "$TORCS_BIN")
TORCS_DATADIR=/usr/share/games/torcs
[ -d "$TORCS_DATADIR/tracks" ] || fail "torcs-data is installed but $TORCS_DATADIR/tracks is missing"

# -- 2. headers from the Debian source package --------------------------------------------
SRC_VERSION=$(dpkg-query -W -f='${source:Version}' torcs)
HEADERS=$SRC_CACHE/torcs-$SRC_VERSION
if [ ! -f "$HEADERS/src/interfaces/robot.h" ]; then
  command -v apt-get >/dev/null || fail "cannot fetch TORCS headers: no apt-get"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/dl"
  : >"$tmp/empty.list"
  # Every configured 'deb' source, turned into 'deb-src', in a private list.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed -E 's/^Types:.*$/Types: deb-src/' "$f" >"$tmp/parts/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" >>"$tmp/parts/saferl-src.list"
  done
  APT_OPTS=(-q -o "Dir::Etc::SourceList=$tmp/empty.list" -o "Dir::Etc::SourceParts=$tmp/parts"
            -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
            -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
  [ "$(id -u)" -eq 0 ] || APT_OPTS+=(-o "Debug::NoLocking=1")
  say "fetching the TORCS $SRC_VERSION source package for its headers"
  # A third-party source without deb-src may fail here; only the torcs source matters.
  apt-get "${APT_OPTS[@]}" update >/dev/null 2>"$tmp/update.err" || true
  (cd "$tmp/dl" && apt-get "${APT_OPTS[@]}" source --download-only "torcs=$SRC_VERSION" >/dev/null 2>"$tmp/source.err") \
    || (cd "$tmp/dl" && apt-get "${APT_OPTS[@]}" source --download-only torcs >/dev/null 2>>"$tmp/source.err") \
    || { cat "$tmp/update.err" "$tmp/source.err" >&2; fail "apt-get source torcs failed (is a Debian source mirror reachable?)"; }
  orig=$(ls "$tmp"/dl/torcs_*.orig.tar.* 2>/dev/null | head -n1)
  [ -n "$orig" ] || fail "apt-get source torcs did not download an .orig tarball"
  say "unpacking headers from $(basename "$orig")"
  mkdir -p "$tmp/x"
  tar -xf "$orig" -C "$tmp/x" --wildcards '*/src/interfaces/*' '*/src/libs/tgf/*' \
    '*/src/libs/robottools/*' '*/src/libs/txml/*' '*/src/libs/math/*' '*/src/linux/*.h' \
    || fail "could not unpack the TORCS headers from $orig"
  top=$(ls -d "$tmp"/x/*/ | head -n1)
  mkdir -p "$SRC_CACHE"
  rm -rf "$HEADERS"
  mv "$top" "$HEADERS"
fi

# -- 3. the robot ----------------------------------------------------------------------------
SO=$BUILD/lib/drivers/saferl_scr/saferl_scr.so
SOURCES=("$HERE"/src/*.cpp "$HERE"/src/*.h)
stale=0
if [ ! -f "$SO" ]; then
  stale=1
else
  for f in "${SOURCES[@]}" "${BASH_SOURCE[0]}"; do
    [ "$f" -nt "$SO" ] && stale=1
  done
fi
if [ $stale -eq 1 ]; then
  say "building the saferl_scr robot"
  mkdir -p "$(dirname "$SO")"
  # TORCS's own build exports libs/math as <tmath/...>; mirror that.
  mkdir -p "$BUILD/include"
  ln -sfn "$HEADERS/src/libs/math" "$BUILD/include/tmath"
  INCLUDES=(-I"$BUILD/include")
  for d in interfaces libs/tgf libs/robottools libs/txml libs/math linux; do
    INCLUDES+=(-I"$HEADERS/src/$d")
  done
  g++ -O2 -std=c++14 -fPIC -shared -Wall -Wno-unused-result -Wno-write-strings \
    "${INCLUDES[@]}" -I"$HERE/src" -o "$SO.tmp" "$HERE"/src/*.cpp 2>"$BUILD/build.log" \
    || { cat "$BUILD/build.log" >&2; fail "compiling the robot failed (log: $BUILD/build.log)"; }
  mv "$SO.tmp" "$SO"
fi

# The private library folder: Debian's modules, plus our driver as the only robot.
for d in lib modules; do
  ln -sfn "$TORCS_LIBDIR/$d" "$BUILD/lib/$d"
done
mkdir -p "$BUILD/data/drivers/saferl_scr"
cp -f "$HERE/saferl_scr.xml" "$BUILD/data/drivers/saferl_scr/saferl_scr.xml"
cat >"$BUILD/torcs.env.tmp" <<EOF
TORCS_BIN=$TORCS_BIN
TORCS_LIBDIR=$BUILD/lib
TORCS_DATADIR=$TORCS_DATADIR
TORCS_SYSTEM_LIBDIR=$TORCS_LIBDIR
SAFERL_SCR_DRIVER_XML=$BUILD/data/drivers/saferl_scr/saferl_scr.xml
EOF
mv "$BUILD/torcs.env.tmp" "$BUILD/torcs.env"
say "ready: $BUILD (robot $SO)"
