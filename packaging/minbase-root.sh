#!/usr/bin/env bash
# Shared by scripts/release.sh and packaging/install-test.sh: a fresh minimal
# Debian root (debootstrap --variant=minbase, the same release and
# architecture as this machine), and a way to run commands inside it.
#
#   source packaging/minbase-root.sh
#   minbase_create DIR          # debootstrap into DIR (DIR must not exist)
#   minbase_run DIR CMD...      # CMD in DIR as root, with /proc, /dev and
#                               # DNS set up in a private mount namespace
#                               # (nothing stays mounted afterwards)
#   minbase_run_offline DIR CMD...  # the same with no network at all
# Needs root, debootstrap (installed when missing) and the Debian archive.

minbase_suite() {
    # shellcheck disable=SC1091
    (. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
}

minbase_create() {
    local dir="$1"
    [[ ! -e "$dir" ]] || { echo "minbase: $dir exists" >&2; return 1; }
    if ! command -v debootstrap >/dev/null; then
        echo "minbase: installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null
    fi
    local suite
    suite=$(minbase_suite)
    echo "minbase: debootstrap --variant=minbase $suite $dir"
    debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$suite" "$dir" >"$dir.debootstrap.log" 2>&1 || {
        tail -n 20 "$dir.debootstrap.log" >&2
        return 1
    }
    rm -f "$dir.debootstrap.log"
}

minbase_run() {
    _minbase_run "" "$@"
}

minbase_run_offline() {
    _minbase_run --net "$@"
}

_minbase_run() {
    local net="$1" dir="$2"
    shift 2
    cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
    unshare --mount --propagation private $net -- sh -c '
        set -e
        root="$1"; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mkdir -p "$root/dev/shm"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 TERM=dumb "$@"
    ' sh "$dir" "$@"
}
