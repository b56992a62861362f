//! Every check against a fake machine: a folder standing in for / with its
//! sys/ and proc/, and made-up process facts.

use std::fs;
use std::io;
use std::path::Path;

use super::*;

/// A clean air-gapped machine: loopback only, no radios, no swap, hardened.
fn clean_machine(root: &Path) -> RootedSystem {
    RootedSystem::air_gapped(root, time::macros::datetime!(2027-03-01 10:00 UTC)).unwrap()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn opts(mode: Mode) -> PreflightOptions {
    PreflightOptions {
        mode,
        ..Default::default()
    }
}

fn status(report: &PreflightReport, id: CheckId) -> Status {
    report.get(id).unwrap().status
}

fn add_eth0_up(root: &Path) {
    write(root, "sys/class/net/eth0/flags", "0x1003\n");
    write(root, "sys/class/net/eth0/operstate", "up\n");
    write(root, "sys/class/net/eth0/type", "1\n");
}

#[test]
fn a_clean_machine_passes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    let r = run(&sys, &opts(Mode::Production));
    for c in &r.checks {
        assert_eq!(c.status, Status::Pass, "{c:?}");
        assert!(!c.evidence.is_empty(), "{c:?}");
    }
    assert!(r.passed());
    assert_eq!(r.checks.len(), CheckId::ALL.len());
    let facts = r.facts();
    assert_eq!(facts["passed"], true);
    assert_eq!(facts["checks"][0]["id"], "network");
    assert_eq!(facts["checks"][0]["status"], "pass");
}

#[test]
fn network_up_fails_in_production_warns_in_rehearsal_and_can_be_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    add_eth0_up(dir.path());
    let r = run(&sys, &opts(Mode::Production));
    let c = r.get(CheckId::Network).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("eth0"), "{}", c.summary);
    assert!(c
        .evidence
        .iter()
        .any(|e| e == "eth0: operstate up, flags 0x1003: UP"));
    assert!(c.evidence.iter().any(|e| e.starts_with("lo: loopback")));
    assert!(!r.passed());
    assert_eq!(
        status(&run(&sys, &opts(Mode::Rehearsal)), CheckId::Network),
        Status::Warn
    );

    let allowed = run(
        &sys,
        &PreflightOptions {
            allow_network: true,
            ..opts(Mode::Production)
        },
    );
    let c = allowed.get(CheckId::Network).unwrap();
    assert_eq!(c.status, Status::Warn);
    assert!(c.evidence.iter().any(|e| e.contains("--allow-network")));
    assert!(allowed.passed());
    assert_eq!(allowed.facts()["allow_network"], true);

    // a plan exception keeps the failure on record but lets the run go on
    let excepted = run(
        &sys,
        &PreflightOptions {
            exceptions: vec![PreflightException {
                check: CheckId::Network,
                reason: "the cable is cut at the wall".into(),
            }],
            ..opts(Mode::Production)
        },
    );
    let c = excepted.get(CheckId::Network).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.allowed_by_plan.as_deref(),
        Some("the cable is cut at the wall")
    );
    assert!(excepted.passed());
    assert_eq!(
        excepted.facts()["checks"][0]["allowed_by_plan"],
        "the cable is cut at the wall"
    );
}

#[test]
fn an_interface_enabled_without_link_warns_and_a_down_one_passes() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    write(dir.path(), "sys/class/net/eth0/flags", "0x1003\n");
    write(dir.path(), "sys/class/net/eth0/operstate", "down\n");
    assert_eq!(
        status(&run(&sys, &opts(Mode::Production)), CheckId::Network),
        Status::Warn
    );
    write(dir.path(), "sys/class/net/eth0/flags", "0x1002\n");
    let r = run(&sys, &opts(Mode::Production));
    assert_eq!(status(&r, CheckId::Network), Status::Pass);
    assert!(r
        .get(CheckId::Network)
        .unwrap()
        .evidence
        .iter()
        .any(|e| e.ends_with(": down")));
}

#[test]
fn an_unreadable_sys_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    fs::remove_dir_all(dir.path().join("sys/class/net")).unwrap();
    assert_eq!(
        status(&run(&sys, &opts(Mode::Production)), CheckId::Network),
        Status::Fail
    );
}

#[test]
fn radios() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    let rf = |n: &str, kind: &str, soft: &str, hard: &str| {
        write(dir.path(), &format!("sys/class/rfkill/{n}/type"), kind);
        write(dir.path(), &format!("sys/class/rfkill/{n}/name"), "phy0");
        write(dir.path(), &format!("sys/class/rfkill/{n}/soft"), soft);
        write(dir.path(), &format!("sys/class/rfkill/{n}/hard"), hard);
    };
    rf("rfkill0", "wlan\n", "1\n", "0\n");
    let r = run(&sys, &opts(Mode::Production));
    assert_eq!(status(&r, CheckId::Radios), Status::Pass);
    assert_eq!(
        r.get(CheckId::Radios).unwrap().summary,
        "every radio is blocked"
    );
    rf("rfkill1", "bluetooth\n", "0\n", "0\n");
    let r = run(&sys, &opts(Mode::Production));
    assert_eq!(status(&r, CheckId::Radios), Status::Fail);
    assert!(r
        .get(CheckId::Radios)
        .unwrap()
        .summary
        .contains("bluetooth"));
    assert_eq!(
        status(&run(&sys, &opts(Mode::Rehearsal)), CheckId::Radios),
        Status::Warn
    );
    rf("rfkill1", "bluetooth\n", "0\n", "1\n");
    assert_eq!(
        status(&run(&sys, &opts(Mode::Production)), CheckId::Radios),
        Status::Pass
    );
    // an adapter no switch covers cannot be shown to be off
    fs::remove_dir_all(dir.path().join("sys/class/rfkill/rfkill1")).unwrap();
    fs::create_dir_all(dir.path().join("sys/class/bluetooth/hci0")).unwrap();
    let r = run(&sys, &opts(Mode::Production));
    assert_eq!(status(&r, CheckId::Radios), Status::Fail);
    assert!(r.get(CheckId::Radios).unwrap().summary.contains("hci0"));
}

#[test]
fn swap() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    write(
        dir.path(),
        "proc/swaps",
        "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2 partition\t8388604\t1024\t-2\n",
    );
    let r = run(&sys, &opts(Mode::Production));
    let c = r.get(CheckId::Swap).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.evidence,
        vec!["/dev/sda2: partition, 8388604 KiB, 1024 KiB used"]
    );
    assert_eq!(
        status(&run(&sys, &opts(Mode::Rehearsal)), CheckId::Swap),
        Status::Warn
    );
    fs::remove_file(dir.path().join("proc/swaps")).unwrap();
    assert_eq!(
        status(&run(&sys, &opts(Mode::Production)), CheckId::Swap),
        Status::Warn
    );
}

#[test]
fn core_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let mut sys = clean_machine(dir.path());
    sys.dumpable = 1;
    let r = run(&sys, &opts(Mode::Production));
    assert_eq!(status(&r, CheckId::CoreDumps), Status::Fail);
    assert!(r
        .get(CheckId::CoreDumps)
        .unwrap()
        .summary
        .contains("dumpable"));
    assert_eq!(
        status(&run(&sys, &opts(Mode::Rehearsal)), CheckId::CoreDumps),
        Status::Warn
    );
    sys.dumpable = 0;
    sys.core = Limit {
        soft: Some(0),
        hard: None,
    };
    let r = run(&sys, &opts(Mode::Production));
    assert_eq!(status(&r, CheckId::CoreDumps), Status::Fail);
    assert!(r
        .get(CheckId::CoreDumps)
        .unwrap()
        .evidence
        .contains(&"RLIMIT_CORE soft 0, hard unlimited".to_string()));
    sys.core = Limit {
        soft: Some(0),
        hard: Some(0),
    };
    write(dir.path(), "proc/sys/fs/suid_dumpable", "2\n");
    write(
        dir.path(),
        "proc/sys/kernel/core_pattern",
        "|/usr/share/apport/apport %p\n",
    );
    let r = run(&sys, &opts(Mode::Production));
    let c = r.get(CheckId::CoreDumps).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("suid_dumpable"));
    assert!(c.evidence.iter().any(|e| e.contains("apport")));
}

#[test]
fn memory_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut sys = clean_machine(dir.path());
    sys.mlock = Err(io::ErrorKind::PermissionDenied);
    sys.memlock = Limit {
        soft: Some(0),
        hard: Some(0),
    };
    let r = run(&sys, &opts(Mode::Production));
    let c = r.get(CheckId::MemoryLock).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c
        .evidence
        .contains(&"RLIMIT_MEMLOCK soft 0, hard 0".to_string()));
    assert_eq!(
        status(&run(&sys, &opts(Mode::Rehearsal)), CheckId::MemoryLock),
        Status::Warn
    );
}

#[test]
fn random_source_fails_in_every_mode_when_stuck_biased_or_silent() {
    let dir = tempfile::tempdir().unwrap();
    let mut sys = clean_machine(dir.path());
    for bad in [
        vec![0x42u8],                                      // stuck
        (0..=255u8).map(|b| b & 0x0f).collect::<Vec<_>>(), // 16 values, cycling
    ] {
        sys.random = Ok(bad);
        for mode in [Mode::Production, Mode::Rehearsal] {
            let r = run(&sys, &opts(mode));
            let c = r.get(CheckId::Random).unwrap();
            assert_eq!(c.status, Status::Fail, "{c:?}");
            assert!(c.summary.contains("FAILED"));
            assert!(!r.passed());
        }
    }
    sys.random = Err(io::ErrorKind::WouldBlock);
    let r = run(&sys, &opts(Mode::Rehearsal));
    let c = r.get(CheckId::Random).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("not initialised"));
    // an exception cannot allow it (the plan parser refuses one, too)
    let r = run(
        &sys,
        &PreflightOptions {
            exceptions: vec![PreflightException {
                check: CheckId::Random,
                reason: "x".into(),
            }],
            ..opts(Mode::Production)
        },
    );
    assert!(r.get(CheckId::Random).unwrap().allowed_by_plan.is_none());
    assert!(!r.passed());
}

#[test]
fn clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut sys = clean_machine(dir.path());
    sys.now = time::macros::datetime!(2001-01-01 00:00 UTC);
    let r = run(&sys, &opts(Mode::Production));
    let c = r.get(CheckId::Clock).unwrap();
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence[0].contains("2001-01-01T00:00:00Z"));
    assert_eq!(
        status(&run(&sys, &opts(Mode::Rehearsal)), CheckId::Clock),
        Status::Warn
    );
    sys.now = time::macros::datetime!(2099-01-01 00:00 UTC);
    assert_eq!(
        status(&run(&sys, &opts(Mode::Production)), CheckId::Clock),
        Status::Fail
    );
}

#[test]
fn test_tokens_fail_in_production_only() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    let with = |mode| PreflightOptions {
        test_tokens: Some("/tmp/tokens".into()),
        ..opts(mode)
    };
    let r = run(&sys, &with(Mode::Production));
    assert_eq!(status(&r, CheckId::TestTokens), Status::Fail);
    assert!(r
        .get(CheckId::TestTokens)
        .unwrap()
        .summary
        .contains("TEST TOKENS"));
    assert_eq!(
        status(&run(&sys, &with(Mode::Rehearsal)), CheckId::TestTokens),
        Status::Pass
    );
}

#[test]
fn binary_identity_is_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let mut sys = clean_machine(dir.path());
    let r = run(&sys, &opts(Mode::Production));
    assert!(r
        .get(CheckId::Binary)
        .unwrap()
        .evidence
        .contains(&format!("sha256 {}", "ab".repeat(32))));
    sys.binary = None;
    assert_eq!(
        status(&run(&sys, &opts(Mode::Production)), CheckId::Binary),
        Status::Warn
    );
    // the live one hashes this test binary
    let live = binary_identity().unwrap();
    assert_eq!(live.sha256.len(), 64);
    assert_eq!(live.version, env!("CARGO_PKG_VERSION"));
    assert!(live.rustc.starts_with("rustc "), "{}", live.rustc);
    assert!(r
        .get(CheckId::Binary)
        .unwrap()
        .evidence
        .contains(&"commit 0123456789abcdef0123456789abcdef01234567".to_string()));
}

#[test]
fn hostile_names_from_sys_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let sys = clean_machine(dir.path());
    write(dir.path(), "sys/class/net/ev\u{1b}[2Jil/flags", "0x1003\n");
    write(
        dir.path(),
        "sys/class/net/ev\u{1b}[2Jil/operstate",
        "up\u{7}\n",
    );
    let r = run(&sys, &opts(Mode::Production));
    let c = r.get(CheckId::Network).unwrap();
    for line in c.evidence.iter().chain([&c.summary]) {
        assert!(!line.chars().any(|ch| ch.is_control()), "{line:?}");
    }
}

#[test]
fn live_run_answers_every_check() {
    let r = run_live(&opts(Mode::Rehearsal));
    assert_eq!(r.checks.len(), CheckId::ALL.len());
    assert_eq!(status(&r, CheckId::Random), Status::Pass);
}
