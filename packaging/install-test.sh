#!/usr/bin/env bash
# Installs a release folder into a fresh minimal Debian root, as the operator
# of the air-gapped machine would (docs/install.md), and runs it there:
#
#   packaging/install-test.sh [DIST]        (DIST defaults to dist/; as root)
#
#  1. debootstrap --variant=minbase: a root with no PC/SC library, no pcscd.
#  2. The folder is copied in as /media/usb; `sha256sum -c SHA256SUMS`.
#  3. Before anything is installed: the packaged binary (unpacked with
#     dpkg-deb -x) runs `--version`, `version`, `split`, `verify`,
#     `assemble --dry-run`; `token list` says what to install.
#  4. With NO NETWORK: `dpkg -i deps/*.deb keyceremony_*.deb` must install
#     with every dependency satisfied from the folder alone.
#  5. The installed binary: `keyceremony version` (its SHA-256 must be the
#     one in SHA256SUMS), `keyceremony preflight` runs, man page and bash completion present and working,
#     `token list` now reaching PC/SC (pcscd started: "no YubiKey connected").
#  6. The demo (scripts/demo.sh and its plan ceremony/demo* from the source archive) with the installed
#     binary (KEYCEREMONY_BIN); the demo's age CLI is installed for it first,
#     as a test tool, not as part of the release.
# The root is deleted at the end. About 3-5 minutes, mostly debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
dist=$(cd "${1:-dist}" && pwd -P)
[[ "$(id -u)" -eq 0 ]] || { echo "install-test: run as root (debootstrap, chroot)" >&2; exit 1; }
[[ -f "$dist/SHA256SUMS" ]] || { echo "install-test: $dist has no SHA256SUMS; make it with scripts/release.sh" >&2; exit 1; }

# shellcheck source=packaging/minbase-root.sh
source "$repo/packaging/minbase-root.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/keyceremony-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
step() { printf '\n== %s\n' "$*"; }

step "1. a fresh minimal Debian root"
minbase_create "$root"
minbase_run "$root" sh -c 'ls /usr/lib/*/libpcsclite* 2>/dev/null && exit 1; command -v pcscd && exit 1; echo "no libpcsclite, no pcscd: $(. /etc/os-release; echo "$PRETTY_NAME")"'

step "2. the release folder as /media/usb, checked"
mkdir -p "$root/media/usb"
cp -r "$dist"/. "$root/media/usb/"
minbase_run "$root" sh -c 'cd /media/usb && sha256sum --quiet -c SHA256SUMS && echo "SHA256SUMS: every file matches"'

step "3. the binary before any install (no PC/SC library on this machine)"
minbase_run "$root" sh -c '
    set -e
    cd /tmp
    dpkg-deb -x /media/usb/keyceremony_*.deb /tmp/unpacked
    kc=/tmp/unpacked/usr/bin/keyceremony
    $kc --version
    $kc split --generate -t 2 -n 3 --out before --label "install test" >/dev/null
    $kc verify before/ceremony.json before/shard-1.json before/shard-2.json
    $kc assemble before/shard-1.json before/shard-3.json --dry-run
    if $kc token list 2>err.txt; then echo "token list worked without PC/SC?" >&2; exit 1; fi
    cat err.txt
    grep -q "apt-get install libpcsclite1 pcscd" err.txt
    rm -rf before /tmp/unpacked
'

step "4. install from the folder alone, with no network"
minbase_run_offline "$root" sh -c '
    set -e
    echo "network: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" " ")"
    cd /media/usb
    dpkg -i deps/*.deb keyceremony_*.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; exit 1; }
    dpkg-query -W -f "\${Package} \${Version} \${Status}\n" keyceremony libpcsclite1 pcscd libccid
    dpkg --audit
'

step "5. the installed binary"
minbase_run "$root" sh -c '
    set -e
    command -v keyceremony
    keyceremony version
    got=$(keyceremony version | sed -n "s/^binary sha256: //p")
    want=$(sed -n "s/^\([0-9a-f]*\)  keyceremony-[^ ]*-x86_64-linux\$/\1/p" /media/usb/SHA256SUMS)
    [ "$got" = "$want" ] || { echo "installed binary $got is not the released $want" >&2; exit 1; }
    echo "installed binary = released binary: $got"
    # The verdict is about the host (a chroot shares its kernel, swap and
    # network), so only its run and its binary line are checked here.
    report=$(keyceremony preflight --rehearsal 2>&1) || true
    echo "$report" | sed "s/^/    preflight: /"
    echo "$report" | grep -q "^PASS  binary .*sha256 $want"
    zcat /usr/share/man/man1/keyceremony-split.1.gz | grep -q "^.TH keyceremony-split 1"
    echo "man pages: $(ls /usr/share/man/man1/keyceremony*.1.gz | wc -l)"
    bash -c "source /usr/share/bash-completion/completions/keyceremony
        COMP_WORDS=(keyceremony spl); COMP_CWORD=1
        _keyceremony keyceremony spl keyceremony
        [ \"\${COMPREPLY[*]}\" = split ]" && echo "bash completion: keyceremony spl<TAB> -> split"
    mkdir -p /run/pcscd
    pcscd --foreground >/tmp/pcscd.log 2>&1 &
    pcscd_pid=$!
    sleep 2
    out=$(keyceremony token list 2>&1 || true)
    kill "$pcscd_pid"
    echo "token list: $out"
    echo "$out" | grep -q "^no YubiKey connected"
'

step "6. the demo, with the installed binary"
tar -xzf "$dist"/keyceremony-*-src.tar.gz -C "$root/tmp" --wildcards "*/scripts/demo.sh" "*/ceremony/demo*"
minbase_run "$root" sh -c '
    set -e
    apt-get update -qq && apt-get install -y -qq --no-install-recommends age >/dev/null
    KEYCEREMONY_BIN=keyceremony bash /tmp/keyceremony-*/scripts/demo.sh
'
step "install test PASSED"
