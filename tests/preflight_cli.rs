//! `keyceremony preflight` through the binary, on this machine. The checks
//! themselves (each passing, warning and failing) are tested against fake
//! machines in src/preflight/tests.rs; here: the command's report, its
//! exit status, the modes and the hardening the binary applies to itself.

mod common;

use std::path::Path;

use common::{bin, run};
use serde_json::Value;

const IDS: [&str; 9] = [
    "network",
    "radios",
    "swap",
    "core-dumps",
    "memory-lock",
    "random",
    "clock",
    "test-tokens",
    "binary",
];

/// The checks a gap in the air gap fails in production and a plan may allow.
const AIR_GAP: [&str; 6] = [
    "network",
    "radios",
    "swap",
    "core-dumps",
    "memory-lock",
    "clock",
];

fn report(args: &[&str]) -> (i32, Value) {
    let r = run(args);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    (r.code, v)
}

fn check<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

#[test]
fn reports_every_check_with_evidence_and_an_exit_status_that_matches() {
    for mode_args in [
        &["preflight", "--json"][..],
        &["preflight", "--json", "--rehearsal"],
    ] {
        let (code, v) = report(mode_args);
        let ids: Vec<&str> = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, IDS);
        for c in v["checks"].as_array().unwrap() {
            assert!(
                ["pass", "warn", "fail"].contains(&c["status"].as_str().unwrap()),
                "{c}"
            );
            assert!(!c["evidence"].as_array().unwrap().is_empty(), "{c}");
            assert!(!c["summary"].as_str().unwrap().is_empty());
        }
        let blocking = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "fail" && c.get("allowed_by_plan").is_none());
        assert_eq!(v["ok"], !blocking);
        assert_eq!(v["passed"], !blocking);
        assert_eq!(code, if blocking { 1 } else { 0 });
    }
}

#[test]
fn a_rehearsal_only_warns_about_the_air_gap() {
    let (code, v) = report(&["preflight", "--json", "--rehearsal"]);
    assert_eq!(v["mode"], "rehearsal");
    for id in AIR_GAP {
        assert_ne!(check(&v, id)["status"], "fail", "{id}");
    }
    // the random source fails in every mode; here it answers
    assert_eq!(check(&v, "random")["status"], "pass");
    assert_eq!(code, 0);
}

#[test]
fn the_binary_hardens_itself_before_the_checks() {
    let (_, v) = report(&["preflight", "--json", "--rehearsal"]);
    let evidence = check(&v, "core-dumps")["evidence"].to_string();
    assert!(
        evidence.contains("prctl(PR_GET_DUMPABLE) = 0"),
        "{evidence}"
    );
    assert!(
        evidence.contains("RLIMIT_CORE = 0 (soft and hard)"),
        "{evidence}"
    );
}

#[test]
fn the_binary_check_names_this_binary_and_its_hash() {
    let (_, v) = report(&["preflight", "--json", "--rehearsal"]);
    let exe = Path::new(env!("CARGO_BIN_EXE_keyceremony"));
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        std::fs::read(exe).unwrap(),
    ));
    let c = check(&v, "binary");
    assert_eq!(c["status"], "pass");
    assert!(c["summary"].as_str().unwrap().contains(&hash), "{c}");
    assert!(c["summary"]
        .as_str()
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn test_tokens_fail_a_production_preflight() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["preflight", "--json"])
        .env("KEYCEREMONY_TEST_TOKENS", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: Value = common::json_document(&o.stdout);
    let c = check(&v, "test-tokens");
    assert_eq!(c["status"], "fail");
    assert!(c["summary"].as_str().unwrap().contains("TEST TOKENS"));
    // allowed in a rehearsal
    let o = bin()
        .args(["preflight", "--json", "--rehearsal", "--test-tokens"])
        .arg(dir.path())
        .output()
        .unwrap();
    let v: Value = common::json_document(&o.stdout);
    assert_eq!(check(&v, "test-tokens")["status"], "pass");
}

#[test]
fn allow_network_is_recorded() {
    let (_, v) = report(&["preflight", "--json", "--allow-network"]);
    assert_eq!(v["allow_network"], true);
    assert_ne!(check(&v, "network")["status"], "fail");
    let (_, v) = report(&["preflight", "--json"]);
    assert_eq!(v["allow_network"], false);
}

#[test]
fn a_plan_sets_the_mode_and_the_exceptions() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("ceremony/demo.toml");
    let (_, v) = report(&["preflight", "--json", "--plan", demo.to_str().unwrap()]);
    assert_eq!(v["mode"], "rehearsal");
    // a production plan that allows everything that may be allowed
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("p.toml");
    let allows: Vec<String> = AIR_GAP
        .iter()
        .map(|c| format!("{{ check = \"{c}\", reason = \"test machine\" }}"))
        .collect();
    std::fs::write(
        &plan,
        format!(
            "version = 1\nlabel = \"x\"\nmode = \"production\"\nlead = \"L\"\nthreshold = 2\n\n[key]\ngenerate = true\n\n[[custodian]]\nname = \"A\"\ntransport = \"file\"\n\n[[custodian]]\nname = \"B\"\ntransport = \"qr\"\n\n[preflight]\nallow = [{}]\n",
            allows.join(", ")
        ),
    )
    .unwrap();
    let (code, v) = report(&["preflight", "--json", "--plan", plan.to_str().unwrap()]);
    assert_eq!(v["mode"], "production");
    for c in v["checks"].as_array().unwrap() {
        if c["status"] == "fail" {
            assert_eq!(c["allowed_by_plan"], "test machine", "{c}");
        }
    }
    assert_eq!(code, 0, "{v}");
    let r = run(["preflight", "--plan", plan.to_str().unwrap()]);
    assert!(r.stdout.contains("result: OK"), "{}", r.stdout);
    // --rehearsal and --plan do not go together
    let r = run(["preflight", "--rehearsal", "--plan", plan.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    // a bad plan is named with its line
    std::fs::write(&plan, "version = 1\nlabel = 3\n").unwrap();
    let r = run(["preflight", "--plan", plan.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("{}:2:9: ", plan.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn text_output_lists_each_check() {
    let r = run(["preflight", "--rehearsal"]);
    assert!(
        r.stdout.starts_with("preflight (rehearsal mode)\n"),
        "{}",
        r.stdout
    );
    for id in IDS {
        assert!(
            r.stdout.lines().any(|l| (l.starts_with("PASS  ")
                || l.starts_with("WARN  ")
                || l.starts_with("FAIL  "))
                && l[6..].starts_with(id)),
            "{id}: {}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("repetition count test: longest run"));
    assert!(r.stdout.lines().last().unwrap().starts_with("result: "));
}
