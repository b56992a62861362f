//! The ceremony runner through the library, every prompt answered by a
//! ScriptedConsole: a whole rehearsal of the demo plan; runs stopped at
//! several steps (Ctrl-C's flag, the lead saying no); failed check-backs (a
//! test token pulled out before its share is unsealed, a scan that does not
//! decode); refusals; preflight failing and allowed. After each: the
//! transcript verifies (signed, or interrupted and signed), and no file,
//! narration or prompt holds the key or a share value that does not belong
//! there.

mod ceremony_support;

use std::path::{Path, PathBuf};

use ceremony_support::*;
use keyceremony::ceremony::{self, CheckBack, RunOptions, RunOutcome, Said, Stop, StopFlag};
use keyceremony::console::{Console, ScriptedConsole};
use keyceremony::error::Error;
use keyceremony::plan::Plan;
use keyceremony::preflight::{CheckId, RootedSystem};
use keyceremony::token::soft::{SoftProvider, TouchResponse};
use keyceremony::token::TokenError;
use keyceremony::transcript::{self, Outcome, VerifyOptions};

struct Room {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    out: PathBuf,
}

fn room() -> Room {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    Room {
        out: dir.join("out"),
        dir,
        _tmp: tmp,
    }
}

fn options(out: &Path) -> RunOptions {
    RunOptions::new(out)
}

/// Every answer the demo plan's run asks for, in order, with a scan of
/// sheet 2 (its written PNG copied elsewhere, as a photo would be).
fn demo_script(scan: &Path) -> ScriptedConsole {
    ScriptedConsole::new()
        .expect_confirm("Plan: was its SHA-256 read aloud", true)
        .expect_confirm("Preflight: go on", true)
        .expect_secret("PIN for TEST TOKEN 41000001", PIN)
        .expect_secret("PIN for TEST TOKEN 41000002", PIN)
        .expect_confirm("Tokens: is every token holder here", true)
        .expect_confirm("Key: was its fingerprint read aloud", true)
        .expect_confirm("Split: was the ceremony id read aloud", true)
        .expect_confirm(
            "Alice Archer: have you received share 1 (shard-1.json)",
            true,
        )
        .expect_line("Path of a scan or photo", scan.to_str().unwrap())
        .expect_confirm("Bob Baker: have you received share 2", true)
        .expect_line("Path of a scan or photo", "")
        .expect_confirm("Carol Cooper: have you received share 3", true)
        .expect_secret("PIN for TEST TOKEN 41000001", PIN)
        .expect_confirm("Dan Driver: have you received share 4 (shard-4.age)", true)
        .expect_secret("PIN for TEST TOKEN 41000002", PIN)
        .expect_confirm("Erin Evans: have you received share 5 (shard-5.age)", true)
        .expect_confirm("Bundle demo-root-key.tar.age: written and verified", true)
        .expect_confirm(
            "Bundle demo-root-key.tar.gz.enc: written and verified",
            true,
        )
}

/// Answers like the lead at the keyboard, and presses Ctrl-C (sets the
/// stop flag) while the question containing `at` is on screen.
struct CtrlCAt {
    inner: ScriptedConsole,
    at: &'static str,
    stop: StopFlag,
}

impl Console for CtrlCAt {
    fn read_secret(&mut self, prompt: &str) -> std::io::Result<zeroize::Zeroizing<String>> {
        self.inner.read_secret(prompt)
    }
    fn confirm(&mut self, question: &str) -> bool {
        if question.contains(self.at) {
            self.stop.request();
        }
        self.inner.confirm(question)
    }
    fn read_line(
        &mut self,
        prompt: &str,
        max_len: usize,
    ) -> std::io::Result<Option<zeroize::Zeroizing<String>>> {
        if prompt.contains(self.at) {
            self.stop.request();
        }
        self.inner.read_line(prompt, max_len)
    }
}

fn narration(said: &[Said]) -> String {
    said.iter().map(|s| format!("{s:?}\n")).collect()
}

fn verified(out: &Path) -> transcript::VerifiedTranscript {
    let record = std::fs::read(out.join("ceremony.json")).ok().map(|b| {
        match keyceremony::shard::parse_document(&b).unwrap() {
            keyceremony::shard::JsonDocument::Record(r) => *r,
            _ => panic!("not a record"),
        }
    });
    transcript::verify_file(
        &out.join("transcript.jsonl"),
        &VerifyOptions {
            record,
            chain_from: None,
        },
    )
    .expect("the transcript verifies")
}

fn steps(t: &transcript::VerifiedTranscript) -> Vec<String> {
    t.entries.iter().map(|e| e.step.clone()).collect()
}

#[test]
fn a_whole_rehearsal_of_the_demo_plan_with_a_scripted_console() {
    let r = room();
    let plan = Plan::load(&demo_plan(&r.dir)).unwrap();
    // a "photo" of sheet 2: the scan check-back reads it from elsewhere
    let scan = r.dir.join("photo-of-sheet-2.png");
    let mut console = demo_script(&scan);
    let mut said: Vec<Said> = Vec::new();
    let mut opts = options(&r.out);
    // the scan is taken once the sheet exists: a console that copies it in place
    struct Photographer<'a> {
        inner: &'a mut ScriptedConsole,
        out: PathBuf,
        scan: PathBuf,
    }
    impl Console for Photographer<'_> {
        fn read_secret(&mut self, p: &str) -> std::io::Result<zeroize::Zeroizing<String>> {
            self.inner.read_secret(p)
        }
        fn confirm(&mut self, q: &str) -> bool {
            self.inner.confirm(q)
        }
        fn read_line(
            &mut self,
            p: &str,
            n: usize,
        ) -> std::io::Result<Option<zeroize::Zeroizing<String>>> {
            if p.contains("shard-2.html") {
                std::fs::copy(self.out.join("shard-2.png"), &self.scan).unwrap();
            }
            self.inner.read_line(p, n)
        }
    }
    opts.yes = false;
    let report = ceremony::run(
        &plan,
        opts,
        &mut Photographer {
            inner: &mut console,
            out: r.out.clone(),
            scan: scan.clone(),
        },
        &mut said,
    )
    .unwrap();
    let asked = console.finish();
    assert!(report.completed(), "{:?}", report.outcome);
    assert_eq!(report.label, "REHEARSAL: demo root key");
    assert_eq!(report.shares.len(), 5);
    assert_eq!(report.bundles.len(), 2);
    assert!(report.bundles.iter().all(|b| b.decrypted));
    // every check-back as the transport asks
    assert_eq!(report.shares[0].checks, [CheckBack::ShardFileReread]);
    assert!(matches!(
        &report.shares[1].checks[..],
        [CheckBack::QrImageDecoded, CheckBack::QrScanDecoded { scan: s, .. }] if s == &scan
    ));
    assert_eq!(
        report.shares[2].checks,
        [CheckBack::QrImageDecoded, CheckBack::NoScanGiven]
    );
    for s in &report.shares[3..] {
        assert!(matches!(
            &s.checks[..],
            [CheckBack::SealedFileCompared, CheckBack::Unsealed(w)] if w.test_token
        ));
        assert_eq!(s.receipt_confirmed_by, s.custodian);
    }
    let t = verified(&r.out);
    assert_eq!(t.outcome, Outcome::Completed);
    assert_eq!(
        steps(&t),
        [
            "start",
            "plan",
            "preflight",
            "tokens",
            "key",
            "split",
            "share",
            "share",
            "share",
            "share",
            "share",
            "bundle",
            "bundle",
            "wipe",
            "close",
            "signature"
        ]
    );
    let share4 = &t.entries[9].facts;
    assert_eq!(share4["custodian"], "Dan Driver");
    assert_eq!(share4["sealed_to"]["serial"], 41000001);
    assert_eq!(share4["sealed_to"]["slot"], "82");
    assert_eq!(share4["receipt_confirmed_by"], "Dan Driver");
    assert_eq!(
        share4["outputs"][0]["sha256"],
        report.shares[3].report.outputs[0].sha256.to_hex()
    );
    assert_eq!(t.entries[7].facts["qr_version"], 12);
    assert_eq!(t.entries[1].facts["confirmed_by"], "Lee Lead");
    assert_eq!(
        t.ceremony_ids,
        [report.info.as_ref().unwrap().ceremony_id.to_string()]
    );
    // every output of a rehearsal says so
    for f in [
        "ceremony.json",
        "shard-1.json",
        "shard-2.html",
        "transcript.html",
    ] {
        let text = std::fs::read_to_string(r.out.join(f)).unwrap();
        assert!(text.contains("REHEARSAL"), "{f} does not say REHEARSAL");
    }
    assert_eq!(t.header.mode, keyceremony::plan::Mode::Rehearsal);
    // every printed sheet names the ceremony's public key, as the record does
    let public_key = hex::encode(t.public_key);
    for f in ["shard-2.html", "shard-3.html"] {
        let sheet = std::fs::read_to_string(r.out.join(f)).unwrap();
        assert!(sheet.contains(&public_key), "{f} lacks the ceremony key");
    }
    // the shares, read back from the outputs, give the key; nothing else holds them
    let shares = shares_in_outputs(&r.out, &r.out.join("test-tokens"));
    assert_eq!(shares.len(), 5);
    assert_eq!(all_shares(&shares, 3, 5).unwrap(), shares);
    // the scan finds a share where it is (so it would find one where it is not)
    let own = std::fs::read(r.out.join("shard-1.json")).unwrap();
    assert!(!keyceremony::secret_scan::find(&own, &[("share 1", &shares[0].1)]).is_empty());
    assert!(scan_folder(&r.out, &shares) >= 17);
    scan_text("narration", &narration(&said), &shares);
    scan_text("prompts", &format!("{asked:?}"), &shares);
    assert!(names_in(&r.out)
        .iter()
        .all(|n| !n.starts_with(".keyceremony-")));
}

/// Runs the small plan (2 of 3), pressing Ctrl-C at the question containing `at`.
fn small_run_stopped_at(
    at: &'static str,
    script: ScriptedConsole,
) -> (Room, ceremony::CeremonyReport, Vec<Said>) {
    let r = room();
    let plan = Plan::load(&small_plan(&r.dir, "rehearsal", SMALL_CUSTODIANS)).unwrap();
    let stop = StopFlag::default();
    let mut opts = options(&r.out);
    opts.stop = stop.clone();
    let mut console = CtrlCAt {
        inner: script,
        at,
        stop,
    };
    let mut said = Vec::new();
    let report = ceremony::run(&plan, opts, &mut console, &mut said).unwrap();
    console.inner.finish();
    (r, report, said)
}

fn small_script_up_to(n: usize) -> ScriptedConsole {
    let all: Vec<Box<dyn Fn(ScriptedConsole) -> ScriptedConsole>> = vec![
        Box::new(|c| c.expect_confirm("Plan:", true)),
        Box::new(|c| c.expect_confirm("Preflight:", true)),
        Box::new(|c| c.expect_secret("PIN for TEST TOKEN 41000001", PIN)),
        Box::new(|c| c.expect_confirm("Tokens:", true)),
        Box::new(|c| c.expect_confirm("Key:", true)),
        Box::new(|c| c.expect_confirm("Split:", true)),
        Box::new(|c| c.expect_confirm("Alice Archer: have you received", true)),
        Box::new(|c| c.expect_line("Path of a scan", "")),
        Box::new(|c| c.expect_confirm("Bob Baker: have you received", true)),
        Box::new(|c| c.expect_secret("PIN for TEST TOKEN 41000001", PIN)),
        Box::new(|c| c.expect_confirm("Dan Driver: have you received", true)),
        Box::new(|c| c.expect_confirm("Bundle root.tar.gz.enc", true)),
    ];
    all.iter().take(n).fold(ScriptedConsole::new(), |c, f| f(c))
}

fn interrupted(report: &ceremony::CeremonyReport) -> (&Stop, &[String], &[String]) {
    match &report.outcome {
        RunOutcome::Interrupted {
            stop,
            handed_out,
            not_handed_out,
            ..
        } => (stop, handed_out, not_handed_out),
        RunOutcome::Completed => panic!("the run completed"),
    }
}

/// The closing line says what was and was not handed out; the transcript
/// is signed; the outputs hold no secret but the shares handed out.
fn check_interrupted(r: &Room, report: &ceremony::CeremonyReport, said: &[Said], handed: usize) {
    let t = verified(&r.out);
    let Outcome::Interrupted {
        handed_out,
        not_handed_out,
        reason,
    } = &t.outcome
    else {
        panic!("the transcript says completed")
    };
    let (stop, h, n) = interrupted(report);
    assert_eq!(handed_out, h);
    assert_eq!(not_handed_out, n);
    assert_eq!(reason, &stop.to_string());
    assert_eq!(handed_out.len(), handed);
    assert_eq!(steps(&t).iter().rev().nth(1).unwrap(), "interrupted");
    assert!(r.out.join("transcript.html").is_file());
    // key + the shares handed out: with t = 2, every share is known
    let known = shares_in_outputs(&r.out, &r.out.join("test-tokens"));
    assert_eq!(known.len(), handed);
    let shares = all_shares(&known, 2, 3).unwrap_or_default();
    scan_folder(&r.out, &shares);
    scan_text("narration", &narration(said), &shares);
    assert!(names_in(&r.out)
        .iter()
        .all(|n| !n.starts_with(".keyceremony-")));
}

#[test]
fn ctrl_c_at_the_key_step_stops_before_the_split() {
    let (r, report, said) = small_run_stopped_at("Key:", small_script_up_to(5));
    let (stop, _, not) = interrupted(&report);
    assert!(
        matches!(stop, Stop::Signal { step, .. } if step == "key"),
        "{stop}"
    );
    assert_eq!(not.len(), 4, "{not:?}"); // three shares and the bundle
    assert!(not[0].ends_with("not made"));
    assert!(!r.out.join("ceremony.json").exists());
    assert!(names_in(&r.out).iter().all(|n| !n.starts_with("shard-")));
    check_interrupted(&r, &report, &said, 0);
    let t = verified(&r.out);
    assert_eq!(
        steps(&t)[..5],
        ["start", "plan", "preflight", "tokens", "key"]
    );
}

#[test]
fn ctrl_c_at_a_receipt_scrubs_that_share_and_keeps_the_ones_handed_out() {
    let (r, report, said) =
        small_run_stopped_at("Bob Baker: have you received", small_script_up_to(9));
    let (stop, handed, not) = interrupted(&report);
    assert!(
        matches!(stop, Stop::Signal { step, .. } if step == "share"),
        "{stop}"
    );
    assert_eq!(handed, ["share 1 (Alice Archer): shard-1.json"]);
    assert_eq!(
        not[0],
        "share 2 (Bob Baker): written but not handed out; removed: shard-2.png, shard-2.svg, shard-2.html"
    );
    assert_eq!(not[1], "share 3 (Dan Driver): not made");
    let names = names_in(&r.out);
    assert!(names.contains(&"shard-1.json".to_string()));
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("shard-2") && !n.starts_with("shard-3")),
        "{names:?}"
    );
    check_interrupted(&r, &report, &said, 1);
}

#[test]
fn ctrl_c_at_the_bundle_leaves_every_share_handed_out() {
    let (r, report, said) = small_run_stopped_at("Bundle root.tar.gz.enc", small_script_up_to(12));
    let (stop, handed, not) = interrupted(&report);
    assert!(
        matches!(stop, Stop::Signal { step, .. } if step == "bundle"),
        "{stop}"
    );
    assert_eq!(handed.len(), 3);
    assert!(not.is_empty(), "{not:?}"); // the bundle was written and verified (it is encrypted)
    assert!(r.out.join("root.tar.gz.enc").is_file());
    check_interrupted(&r, &report, &said, 3);
}

#[test]
fn the_lead_saying_no_stops_the_run() {
    let r = room();
    let plan = Plan::load(&small_plan(&r.dir, "rehearsal", SMALL_CUSTODIANS)).unwrap();
    let mut console = small_script_up_to(5).expect_confirm("Split:", false);
    let mut said = Vec::new();
    let report = ceremony::run(&plan, options(&r.out), &mut console, &mut said).unwrap();
    console.finish();
    let (stop, _, _) = interrupted(&report);
    assert!(
        matches!(stop, Stop::Declined { step, .. } if step == "split"),
        "{stop}"
    );
    // the record was written (public); no share was
    assert!(r.out.join("ceremony.json").exists());
    check_interrupted(&r, &report, &said, 0);
}

#[test]
fn a_token_pulled_out_before_its_share_is_unsealed_stops_the_run() {
    let r = room();
    let tokens = r.dir.join("tokens");
    let plan = Plan::load(&small_plan(&r.dir, "rehearsal", SMALL_CUSTODIANS)).unwrap();
    // the token is prepared beforehand, then pulled out when it is to be touched
    let mut prep = ScriptedConsole::new().expect_secret("PIN for TEST TOKEN 41000001", PIN);
    keyceremony::token::manage::init(
        Some(&tokens),
        &keyceremony::token::manage::InitRequest {
            serial: 41000001,
            pin_file: None,
            slot: None,
            pin_policy: keyceremony::token::PinPolicy::Once,
            touch_policy: keyceremony::token::TouchPolicy::Always,
        },
        &mut prep,
        &mut keyceremony::events::Discard,
    )
    .unwrap();
    prep.finish();
    SoftProvider::new(&tokens)
        .open_soft(41000001)
        .unwrap()
        .set_touch_response(TouchResponse::Unplug)
        .unwrap();
    let mut console = ScriptedConsole::new()
        .expect_confirm("Plan:", true)
        .expect_confirm("Preflight:", true)
        .expect_confirm("Tokens:", true)
        .expect_confirm("Key:", true)
        .expect_confirm("Split:", true)
        .expect_confirm("Alice Archer: have you received", true)
        .expect_line("Path of a scan", "")
        .expect_confirm("Bob Baker: have you received", true)
        .expect_secret("PIN for TEST TOKEN 41000001", PIN)
        .expect_confirm("Check share 3 back again", false);
    let mut opts = options(&r.out);
    opts.test_tokens = Some(tokens.clone());
    let mut said = Vec::new();
    let report = ceremony::run(&plan, opts, &mut console, &mut said).unwrap();
    console.finish();
    let (stop, handed, not) = interrupted(&report);
    match stop {
        Stop::Failed { step, error } => {
            assert_eq!(step, "share");
            assert!(
                matches!(
                    error,
                    Error::Token {
                        source: TokenError::Removed(_),
                        ..
                    }
                ),
                "{error}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(handed.len(), 2);
    assert_eq!(
        not,
        [
            "share 3 (Dan Driver): written but not handed out; removed: shard-3.age",
            "bundle 1 (nexus-backup): not made"
        ]
    );
    assert!(!r.out.join("shard-3.age").exists());
    assert!(said
        .iter()
        .any(|s| matches!(s, Said::Warning(w) if w.contains("was removed"))));
    // the sealed share is gone, so read the shares from the two handed out
    let t = verified(&r.out);
    assert!(matches!(t.outcome, Outcome::Interrupted { .. }));
    let known = shares_in_outputs(&r.out, &tokens);
    let shares = all_shares(&known, 2, 3).unwrap();
    scan_folder(&r.out, &shares);
    scan_folder(&tokens, &shares);
    scan_text("narration", &narration(&said), &shares);
}

#[test]
fn a_scan_that_does_not_decode_stops_the_run() {
    let r = room();
    let plan = Plan::load(&small_plan(&r.dir, "rehearsal", SMALL_CUSTODIANS)).unwrap();
    // a photo with no code in it
    let blank = r.dir.join("blank.png");
    image::GrayImage::from_pixel(400, 400, image::Luma([255u8]))
        .save(&blank)
        .unwrap();
    let mut console = small_script_up_to(7)
        .expect_line("Path of a scan", blank.to_str().unwrap())
        .expect_confirm("Try another scan", true)
        .expect_line("Path of a scan", blank.to_str().unwrap())
        .expect_confirm("Try another scan", false);
    let mut said = Vec::new();
    let report = ceremony::run(&plan, options(&r.out), &mut console, &mut said).unwrap();
    console.finish();
    let (stop, handed, _) = interrupted(&report);
    assert!(
        matches!(stop, Stop::Failed { step, error } if step == "share" && error.path() == Some(blank.as_path())),
        "{stop}"
    );
    assert!(
        stop.to_string().contains("no QR code could be read"),
        "{stop}"
    );
    assert_eq!(handed.len(), 1);
    assert!(!r.out.join("shard-2.png").exists());
    check_interrupted(&r, &report, &said, 1);
}

#[test]
fn refusals_before_anything_is_written() {
    let r = room();
    // a non-empty output folder (the same plan run twice)
    let plan = Plan::load(&small_plan(&r.dir, "rehearsal", SMALL_CUSTODIANS)).unwrap();
    std::fs::create_dir(&r.out).unwrap();
    std::fs::write(r.out.join("transcript.jsonl"), "earlier run\n").unwrap();
    let e = ceremony::run(
        &plan,
        options(&r.out),
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::CeremonyRefused(ceremony::RunRefused::OutNotEmpty(_))
        ),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(r.out.join("transcript.jsonl")).unwrap(),
        "earlier run\n"
    );

    // a production plan with test tokens configured
    let prod = Plan::load(&small_plan(
        &r.dir,
        "production",
        "[[custodian]]\nname = \"A\"\ntransport = \"file\"\n[[custodian]]\nname = \"B\"\ntransport = \"qr\"\n",
    ))
    .unwrap();
    let fresh = r.dir.join("fresh");
    let mut opts = options(&fresh);
    opts.test_tokens = Some(r.dir.join("tokens"));
    let e = ceremony::run(&prod, opts, &mut ScriptedConsole::new(), &mut Vec::new()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::CeremonyRefused(ceremony::RunRefused::TestTokensInProduction(_))
        ),
        "{e}"
    );
    assert!(!fresh.exists());

    // an output path that is a file
    let file = r.dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = ceremony::run(
        &plan,
        options(&file),
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::CeremonyRefused(ceremony::RunRefused::OutNotAFolder(_))
        ),
        "{e}"
    );
}

/// A clean air-gapped machine (every check passes), with swap on when asked.
fn clean_machine(root: &Path, swap: bool) -> RootedSystem {
    let sys = RootedSystem::air_gapped(root, time::OffsetDateTime::now_utc()).unwrap();
    if swap {
        std::fs::write(
            root.join("proc/swaps"),
            "Filename\tType\tSize\tUsed\tPriority\n/dev/sda2\tpartition\t8388604\t0\t-2\n",
        )
        .unwrap();
    }
    sys
}

const PROD_CUSTODIANS: &str = "[[custodian]]\nname = \"Alice Archer\"\ntransport = \"file\"\n\n[[custodian]]\nname = \"Bob Baker\"\ntransport = \"file\"\n";

#[test]
fn a_production_preflight_failure_stops_the_run_before_the_key() {
    let r = room();
    let plan = Plan::load(&small_plan(&r.dir, "production", PROD_CUSTODIANS)).unwrap();
    let mut opts = options(&r.out);
    opts.system = Box::new(clean_machine(&r.dir.join("machine"), true));
    let mut console = ScriptedConsole::new().expect_confirm("Plan:", true);
    let mut said = Vec::new();
    let report = ceremony::run(&plan, opts, &mut console, &mut said).unwrap();
    console.finish();
    let (stop, handed, _) = interrupted(&report);
    assert!(
        matches!(stop, Stop::Preflight { failed } if failed == &[CheckId::Swap]),
        "{stop}"
    );
    assert!(handed.is_empty());
    let t = verified(&r.out);
    assert_eq!(
        steps(&t),
        ["start", "plan", "preflight", "interrupted", "signature"]
    );
    assert_eq!(t.entries[2].facts["stopped_the_run"], true);
    assert!(!r.out.join("ceremony.json").exists());
}

#[test]
fn a_production_run_completes_on_a_clean_machine_and_where_the_plan_allows_a_failure() {
    for allow in [false, true] {
        let r = room();
        let path = small_plan(&r.dir, "production", PROD_CUSTODIANS);
        if allow {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                &path,
                text + "\n[preflight]\nallow = [ { check = \"swap\", reason = \"encrypted swap, checked by the lead\" } ]\n",
            )
            .unwrap();
        }
        let plan = Plan::load(&path).unwrap();
        let mut opts = options(&r.out);
        opts.system = Box::new(clean_machine(&r.dir.join("machine"), allow));
        opts.yes = true;
        let mut said = Vec::new();
        let report = ceremony::run(&plan, opts, &mut ScriptedConsole::new(), &mut said).unwrap();
        assert!(report.completed(), "{:?}", report.outcome);
        assert_eq!(report.label, "small test ceremony"); // production: no prefix
        let t = verified(&r.out);
        let pre = &t.entries[2].facts;
        let swap = pre["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "swap")
            .unwrap();
        if allow {
            assert_eq!(swap["status"], "fail");
            assert_eq!(
                swap["allowed_by_plan"],
                "encrypted swap, checked by the lead"
            );
        } else {
            assert_eq!(swap["status"], "pass");
        }
        assert_eq!(t.entries[1].facts["confirmed_by"], "--yes");
        let shares = shares_in_outputs(&r.out, &r.dir.join("no-tokens"));
        scan_folder(&r.out, &shares);
        scan_text("narration", &narration(&said), &shares);
    }
}
