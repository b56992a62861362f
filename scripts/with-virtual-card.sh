#!/usr/bin/env bash
# Runs a command with pcscd and the vsmartcard "vpcd" virtual reader up, so
# the hardware-backend tests can plug pivsim (a simulated YubiKey) into a
# real smart-card daemon.
#
#   scripts/with-virtual-card.sh [--card SERIAL] [--] COMMAND [ARGS...]
#
# - Installs what is missing (pcscd, vsmartcard-vpcd, libpcsclite-dev,
#   pkg-config, yubico-piv-tool) with apt-get, non-interactively, as root.
# - Starts pcscd in the foreground as a background job (no systemd here)
#   unless a pcscd that serves the vpcd reader is already running.
# - With --card SERIAL, also builds and starts one pivsim card with that
#   serial for the duration of COMMAND (tests start their own cards; give
#   --card only for tools such as yubico-piv-tool).
# - Exports KEYCEREMONY_VIRTUAL_CARD=1 so the hardware tests know the
#   daemon is meant to be there (they fail instead of skipping).
# - Stops what it started, by process id, also when COMMAND fails.
#   Exits with COMMAND's status.
set -euo pipefail

# One virtual reader (TCP 35963) serves one card at a time: two runs at once
# would plug their cards into each other's tests. Take a machine-wide lock.
# (An ancestor that is already `flock /tmp/kc-vcard.lock ...` holds it for us.)
lock_held_by_ancestor() {
    local pid=$PPID
    while [[ -n "$pid" && "$pid" -gt 1 ]]; do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^flock /tmp/kc-vcard.lock ' && return 0
        pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    done
    return 1
}
if [[ -z "${KEYCEREMONY_VCARD_LOCKED:-}" ]] && command -v flock >/dev/null && ! lock_held_by_ancestor; then
    export KEYCEREMONY_VCARD_LOCKED=1
    exec flock /tmp/kc-vcard.lock "$0" "$@"
fi

card_serial=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --card) card_serial="${2:?--card needs a serial}"; shift 2 ;;
        --) shift; break ;;
        -*) echo "with-virtual-card: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [[ $# -eq 0 ]]; then
    echo "usage: $0 [--card SERIAL] [--] COMMAND [ARGS...]" >&2
    exit 2
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log_dir="$(mktemp -d /tmp/keyceremony-virtual-card.XXXXXX)"
started_pids=()

say() { echo "with-virtual-card: $*" >&2; }

cleanup() {
    local i pid
    # last started first: the card before the daemon
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
        pid="${started_pids[$i]}"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- packages -------------------------------------------------------------
need=()
[[ -x /usr/sbin/pcscd ]] || need+=(pcscd)
[[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ]] || need+=(vsmartcard-vpcd)
[[ -e /usr/include/PCSC/winscard.h ]] || need+=(libpcsclite-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v yubico-piv-tool >/dev/null || need+=(yubico-piv-tool)
if [[ ${#need[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        say "missing packages: ${need[*]}; run as root or install them: apt-get install ${need[*]}"
        exit 1
    fi
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$log_dir/apt.log" 2>&1 || { cat "$log_dir/apt.log" >&2; exit 1; }
    apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$log_dir/apt.log" 2>&1 \
        || { cat "$log_dir/apt.log" >&2; exit 1; }
fi

# The Debian package ships the reader definition; pcscd reads it at start.
if ! grep -qs libifdvpcd /etc/reader.conf.d/* ; then
    say "no vpcd reader in /etc/reader.conf.d; writing /etc/reader.conf.d/vpcd"
    cat >/etc/reader.conf.d/vpcd <<'EOF'
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
EOF
fi

# --- pcscd ----------------------------------------------------------------
# Is something listening on TCP 35963 (0x8C7B), the first vpcd slot? Read from
# /proc so that no iproute2/net-tools is needed on a minimal machine.
vpcd_listening() {
    awk '$2 ~ /:8C7B$/ && $4 == "0A" { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
pcscd_running() { pidof pcscd >/dev/null 2>&1; }

if vpcd_listening; then
    say "pcscd with the vpcd reader is already running; using it (and leaving it running)"
else
    if pcscd_running && [[ -x /etc/init.d/pcscd ]]; then
        # Typically started by the package's postinst before vpcd was unpacked.
        say "a system pcscd is running without the vpcd reader; restarting it with /etc/init.d/pcscd"
        /etc/init.d/pcscd restart >"$log_dir/pcscd-restart.log" 2>&1 || true
        for _ in $(seq 50); do vpcd_listening && break; sleep 0.1; done
    fi
    if vpcd_listening; then
        say "the system pcscd now serves the vpcd reader; using it (and leaving it running)"
    elif pcscd_running; then
        say "a pcscd is running without the vpcd reader (started before vsmartcard-vpcd was installed?); stop it and try again"
        exit 1
    fi
fi
if ! vpcd_listening; then
    say "starting pcscd (log: $log_dir/pcscd.log)"
    /usr/sbin/pcscd --foreground >"$log_dir/pcscd.log" 2>&1 &
    started_pids+=($!)
    for _ in $(seq 100); do vpcd_listening && break; sleep 0.1; done
    if ! vpcd_listening; then
        say "pcscd did not open the vpcd reader port 35963; its log:"
        cat "$log_dir/pcscd.log" >&2
        exit 1
    fi
fi

# --- pivsim ---------------------------------------------------------------
cd "$repo"
cargo build --locked --quiet --bin pivsim
export PIVSIM="$repo/target/debug/pivsim"
export KEYCEREMONY_VIRTUAL_CARD=1

if [[ -n "$card_serial" ]]; then
    say "inserting pivsim card $card_serial (log: $log_dir/pivsim.log)"
    "$PIVSIM" --serial "$card_serial" >"$log_dir/pivsim.log" 2>&1 &
    started_pids+=($!)
    # pcscd polls the reader; give it a moment to see the card.
    for _ in $(seq 50); do grep -q inserted "$log_dir/pivsim.log" && break; sleep 0.1; done
    sleep 1
fi

status=0
"$@" || status=$?
if [[ $status -eq 0 ]]; then
    cleanup
    started_pids=()
    rm -rf "$log_dir"
else
    say "command failed ($status); pcscd/pivsim logs kept in $log_dir"
fi
exit "$status"
