#!/usr/bin/env bash
# Makes the release folder that is carried to the air-gapped machine
# (docs/install.md), on an online Debian machine, as root:
#
#   scripts/release.sh [--force] [OUT]        (OUT defaults to dist/)
#
#  1. Source archive: `git archive HEAD` plus every crate (`cargo vendor`),
#     SOURCE_COMMIT and SOURCE_DATE_EPOCH (the commit time), as a
#     deterministic tar (sorted names, every mtime = SOURCE_DATE_EPOCH,
#     owner 0, normalised modes, gzip -n).
#  2. Two builds FROM THAT ARCHIVE, unpacked in two different folders, each
#     in a network namespace with no interface but a loopback that is down,
#     with scripts/build-release.sh (cargo --offline --locked --frozen, fresh
#     CARGO_HOME, pinned inputs). The two binaries must be identical
#     (SHA-256), or the script fails.
#  3. SBOM (CycloneDX) and licence check against packaging/licenses-allowed.txt.
#  4. The Debian package (packaging/build-deb.sh), built from each of the two
#     trees: the two .debs must be identical too.
#  5. The .deb of every runtime dependency that a minimal Debian install
#     (debootstrap --variant=minbase) lacks: libpcsclite1, pcscd, libccid...
#     as apt resolves them inside such a root.
#  6. BUILDINFO (the pinned inputs and both hashes) and SHA256SUMS.
#
# Took 45 minutes on 2 shared, busy cores (AMD EPYC): archive 2 min, the two
# release builds (run with nice) 24 and 16 min, runtime dependencies 2 min.
# The install test is separate: packaging/install-test.sh OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)

force=0
out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --force) force=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "release: unknown option $1" >&2; exit 2 ;;
        *) [[ -z "$out" ]] || { echo "release: one OUT folder only" >&2; exit 2; }; out="$1"; shift ;;
    esac
done
out="${out:-dist}"

[[ "$(id -u)" -eq 0 ]] || { echo "release: run as root (network namespaces, debootstrap)" >&2; exit 1; }
if [[ -e "$out" ]] && [[ -n "$(ls -A "$out")" ]]; then
    [[ "$force" -eq 1 ]] || { echo "release: $out is not empty; choose a new folder or pass --force" >&2; exit 1; }
    rm -rf "$out"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd -P)

need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v unshare >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
if [[ ${#need[@]} -gt 0 ]]; then
    echo "release: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi

commit=$(git rev-parse HEAD)
sde=$(git log -1 --format=%ct HEAD)
version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' Cargo.toml | head -n1)
name="keyceremony-$version"
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
    echo "release: WARNING: the working tree has uncommitted changes; the release is of commit $commit only"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keyceremony-release.XXXXXX")
keep_work=0
cleanup() {
    if [[ "$keep_work" -eq 1 ]]; then
        echo "release: left $work for inspection (remove it when done)" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
started=$(date +%s)
step() { printf '\n== [%ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }

# ---------------------------------------------------------------- 1. archive
step "source archive of $commit with every crate vendored"
stage="$work/stage/$name"
mkdir -p "$stage"
git archive --format=tar HEAD | tar -x -C "$stage"
printf '%s\n' "$commit" > "$stage/SOURCE_COMMIT"
printf '%s\n' "$sde" > "$stage/SOURCE_DATE_EPOCH"
(cd "$stage" && cargo vendor --locked --versioned-dirs vendor > "$work/vendor-config.toml" 2> "$work/vendor.log")
grep -q 'replace-with = "vendored-sources"' "$work/vendor-config.toml" || { echo "release: cargo vendor printed no source replacement" >&2; exit 1; }
{
    printf '\n# Added by scripts/release.sh: build from vendor/ only (offline).\n'
    cat "$work/vendor-config.toml"
} >> "$stage/.cargo/config.toml"
archive="$out/$name-src.tar.gz"
(cd "$work/stage" && tar --sort=name --format=gnu --mtime="@$sde" \
    --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
    -cf - "$name") | gzip -n -9 > "$archive"
echo "archive: $(basename "$archive") ($(du -h "$archive" | cut -f1), $(ls "$stage/vendor" | wc -l) crates vendored)"
rm -rf "$work/stage"

# ------------------------------------------------------------- 2. two builds
build_from_archive() { # FOLDER: unpack the archive there and build it with no network
    local dir="$1"
    mkdir -p "$dir"
    tar -xzf "$archive" -C "$dir"
    nice -n 10 unshare --net -- sh -c '
        echo "network in this namespace: $(ip -o link show 2>/dev/null | cut -d" " -f2,9 | tr "\n" " " || tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")routes: $(tail -n +2 /proc/net/route | wc -l)"
        exec "$1/scripts/build-release.sh"
    ' sh "$dir/$name" 2>&1 | tee "$dir.log" | grep -v '^ *Compiling '
}
step "build A from the archive in $work/a (no network)"
build_from_archive "$work/a"
step "build B from the archive in $work/elsewhere/b (no network)"
build_from_archive "$work/elsewhere/b"

bin_a="$work/a/$name/target/release/keyceremony"
bin_b="$work/elsewhere/b/$name/target/release/keyceremony"
sum_a=$(sha256sum "$bin_a" | cut -d' ' -f1)
sum_b=$(sha256sum "$bin_b" | cut -d' ' -f1)
step "compare"
echo "build A: $sum_a"
echo "build B: $sum_b"
if [[ "$sum_a" != "$sum_b" ]]; then
    keep_work=1
    echo "release: FAILED: the two builds differ ($(cmp -l "$bin_a" "$bin_b" | wc -l) bytes); not reproducible." >&2
    echo "  Compare them with diffoscope: $bin_a $bin_b" >&2
    exit 1
fi
echo "identical: the build is reproducible"
install -m 0755 "$bin_a" "$out/keyceremony-$version-x86_64-linux"

# ------------------------------------------------------ 3. SBOM and licences
step "SBOM and licence check"
tree_a="$work/a/$name"
SOURCE_DATE_EPOCH="$sde" python3 "$tree_a/packaging/sbom.py" --manifest-path "$tree_a/Cargo.toml" --offline \
    --check-licenses "$tree_a/packaging/licenses-allowed.txt" \
    --sbom "$out/sbom.cdx.json" --license-texts "$work/THIRD-PARTY-LICENSES"
cp "$tree_a/packaging/licenses-allowed.txt" "$out/licenses-allowed.txt"

# ------------------------------------------------------------ 4. the package
step "Debian package, from each build"
deb_a=$("$tree_a/packaging/build-deb.sh" --binary "$bin_a" --out "$work/deb-a" --third-party-licenses "$work/THIRD-PARTY-LICENSES")
deb_b=$("$work/elsewhere/b/$name/packaging/build-deb.sh" --binary "$bin_b" --out "$work/deb-b" --third-party-licenses "$work/THIRD-PARTY-LICENSES")
deb_sum=$(sha256sum "$deb_a" | cut -d' ' -f1)
[[ "$deb_sum" == "$(sha256sum "$deb_b" | cut -d' ' -f1)" ]] || { keep_work=1; echo "release: FAILED: the two .deb files differ" >&2; exit 1; }
cp "$deb_a" "$out/"
deb="$out/$(basename "$deb_a")"
echo "$(basename "$deb"): $deb_sum (identical from both builds)"
dpkg-deb -f "$deb" Depends Recommends

# ------------------------------------------------- 5. runtime dependencies
step "runtime dependencies missing from a minimal Debian install"
# shellcheck source=packaging/minbase-root.sh
source "$repo/packaging/minbase-root.sh"
minbase_create "$work/minbase"
cp "$deb" "$work/minbase/tmp/"
# apt resolves the package's Depends and Recommends against what minbase has.
minbase_run "$work/minbase" sh -c '
    set -e
    apt-get clean    # debootstrap leaves the minimal set itself in the cache
    apt-get update -qq
    apt-get install -y -qq --download-only /tmp/'"$(basename "$deb")"' pcscd >/dev/null
'
mkdir -p "$out/deps"
cp "$work/minbase"/var/cache/apt/archives/*.deb "$out/deps/"
suite=$(minbase_suite)
ls "$out/deps"
rm -rf "$work/minbase"

# --------------------------------------------------- 6. BUILDINFO, SHA256SUMS
step "BUILDINFO and SHA256SUMS"
{
    echo "keyceremony $version release"
    echo "commit: $commit"
    echo "SOURCE_DATE_EPOCH: $sde ($(date -u -d "@$sde" +%Y-%m-%dT%H:%M:%SZ))"
    echo "source archive: $(basename "$archive") sha256 $(sha256sum "$archive" | cut -d' ' -f1)"
    echo "binary: keyceremony-$version-x86_64-linux sha256 $sum_a"
    echo "  build A in $work/a/$name: $sum_a"
    echo "  build B in $work/elsewhere/b/$name: $sum_b"
    echo "package: $(basename "$deb") sha256 $deb_sum (built from each tree, identical)"
    echo "runtime dependencies (deps/): Debian $suite $(dpkg --print-architecture), those a minbase install lacks"
    echo "builder: $(uname -sm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo
    echo "Pinned inputs (scripts/build-release.sh, build A):"
    sed -n '/^== pinned inputs/,/^== build/p' "$work/a.log" | sed '1d;$d; s/^/  /'
    echo
    echo "To reproduce: unpack the source archive anywhere, then run"
    echo "  scripts/build-release.sh --expect-rustc \"$("$(rustc --print sysroot)/bin/rustc" --version)\""
    echo "and compare the sha256 it prints with the one above (docs/install.md)."
} > "$out/BUILDINFO"
(cd "$out" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)

step "done: $out"
(cd "$out" && ls -l --time-style=+ | tail -n +2 | awk '{print "  " $5 "\t" $NF}')
echo
echo "binary sha256 (both builds): $sum_a"
echo "Next: packaging/install-test.sh $out   (install into a fresh minimal root and run the demo)"
