#!/usr/bin/env bash
# The reproducible release build, run inside an UNPACKED SOURCE ARCHIVE
# (keyceremony-<version>-src.tar.gz from scripts/release.sh: every crate in
# vendor/, SOURCE_COMMIT, SOURCE_DATE_EPOCH). Needs no network: cargo runs
# with --offline --locked --frozen against vendor/ and an empty CARGO_HOME.
#
#   scripts/build-release.sh [--expect-rustc "rustc 1.95.0 (59807616e 2026-04-14)"]
#
# Two runs of this script with the same toolchain, in any two folders, give
# the same binary: every input that could differ is pinned and printed
# (toolchain, SOURCE_DATE_EPOCH, path remapping, flags, locale, time zone,
# umask, target dir, a clean environment). On the last line it prints
# "sha256 <hex> target/release/keyceremony".
#
# This is also how to build on the offline machine itself (docs/install.md):
# carry the archive and a Rust toolchain (>= 1.85; the same version as in
# BUILDINFO to get the published SHA-256) plus gcc across, unpack, run this.
set -euo pipefail

expect_rustc=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --expect-rustc) expect_rustc="${2:?--expect-rustc needs a version line}"; shift 2 ;;
        *) echo "usage: $0 [--expect-rustc 'rustc X.Y.Z (hash date)']" >&2; exit 2 ;;
    esac
done

src=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$src"
for f in vendor SOURCE_COMMIT SOURCE_DATE_EPOCH Cargo.lock; do
    if [[ ! -e "$f" ]]; then
        echo "build-release: $src/$f is missing: this is not an unpacked source archive." >&2
        echo "  Make one with scripts/release.sh (it vendors every crate), or build a checkout with cargo." >&2
        exit 1
    fi
done
version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -n1)
commit=$(cat SOURCE_COMMIT)
sde=$(cat SOURCE_DATE_EPOCH)
[[ "$sde" =~ ^[0-9]+$ ]] || { echo "build-release: SOURCE_DATE_EPOCH is not a number: $sde" >&2; exit 1; }

# The toolchain's own binaries, not rustup's proxies (which could pick
# another toolchain from an override file or try to download one).
sysroot=$(rustc --print sysroot)
rustc_bin="$sysroot/bin/rustc"
cargo_bin="$sysroot/bin/cargo"
[[ -x "$rustc_bin" && -x "$cargo_bin" ]] || { echo "build-release: no rustc/cargo in $sysroot/bin" >&2; exit 1; }
rustc_line=$("$rustc_bin" --version)
if [[ -n "$expect_rustc" && "$rustc_line" != "$expect_rustc" ]]; then
    echo "build-release: this toolchain is '$rustc_line', expected '$expect_rustc'." >&2
    echo "  A different compiler gives a different binary; install that version first." >&2
    exit 1
fi

# A fresh, empty CARGO_HOME: no registry cache, no user config, no credentials.
cargo_home=$(mktemp -d "${TMPDIR:-/tmp}/keyceremony-cargo-home.XXXXXX")
home=$(mktemp -d "${TMPDIR:-/tmp}/keyceremony-build-home.XXXXXX")
trap 'rm -rf "$cargo_home" "$home"' EXIT

build_root="/build/keyceremony-$version"
rustflags=(
    "--remap-path-prefix=$src=$build_root"
    "--remap-path-prefix=$cargo_home=/cargo-home"
)
# cargo's separator for CARGO_ENCODED_RUSTFLAGS is the ASCII unit separator.
encoded_rustflags=$(IFS=$'\x1f'; echo "${rustflags[*]}")
cflags="-ffile-prefix-map=$src=$build_root"

umask 022
build_env=(
    PATH="$sysroot/bin:/usr/local/bin:/usr/bin:/bin"
    HOME="$home"
    LC_ALL=C
    TZ=UTC
    SOURCE_DATE_EPOCH="$sde"
    CARGO_HOME="$cargo_home"
    CARGO_TARGET_DIR="$src/target"
    CARGO_INCREMENTAL=0
    CARGO_TERM_COLOR=never
    CARGO_ENCODED_RUSTFLAGS="$encoded_rustflags"
    CFLAGS="$cflags"
    RUSTC="$rustc_bin"
)
build_cmd=("$cargo_bin" build --release --offline --locked --frozen --bin keyceremony)

echo "== pinned inputs"
echo "source:            keyceremony $version, commit $commit"
echo "SOURCE_DATE_EPOCH: $sde ($(date -u -d "@$sde" +%Y-%m-%dT%H:%M:%SZ))"
echo "toolchain:         $rustc_line; $("$cargo_bin" --version); $(cc --version | head -n1)"
echo "target:            $("$rustc_bin" -vV | sed -n 's/^host: //p')"
# gcc compiles ring's C and assembly and drives the link (rust-lld), which
# pulls in the C library's start files: their versions shape the binary too.
if command -v dpkg-query >/dev/null; then
    echo "system packages:   $(dpkg-query -W -f '${Package} ${Version}; ' gcc libc6-dev binutils 2>/dev/null)"
fi
echo "environment:       cleared (env -i), then only:"
printf '                   %s\n' "${build_env[@]//$'\x1f'/ }"
echo "umask:             $(umask)"
echo "path remapping:    $src -> $build_root, CARGO_HOME -> /cargo-home (Rust); -ffile-prefix-map (C)"
echo "profile:           release from Cargo.toml (lto = \"thin\"), no incremental build"
echo "command:           ${build_cmd[*]}"

echo "== build"
env -i "${build_env[@]}" "${build_cmd[@]}"

bin="target/release/keyceremony"
sum=$(sha256sum "$bin" | cut -d' ' -f1)
echo "sha256 $sum $bin"
