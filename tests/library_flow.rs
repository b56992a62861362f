//! Guided flows through the library, as a ceremony runner calls it: typed
//! requests in, typed reports, events and errors out, every prompt answered
//! by a ScriptedConsole (which fails loudly on any prompt not expected).
//! Test mode: software tokens in a temporary folder.

use std::path::{Path, PathBuf};

use keyceremony::assemble::{self, Delivered, KeyOutput};
use keyceremony::check_back;
use keyceremony::console::{PromptKind, ScriptedConsole};
use keyceremony::digest::Sha256Digest;
use keyceremony::error::{Error, ReadBack, RequestError};
use keyceremony::events::{Event, Severity, TouchPrompt};
use keyceremony::inputs::InputOptions;
use keyceremony::recovery::{Rejection, SetProblem};
use keyceremony::seal_target::{self, SealTargetRequest};
use keyceremony::secret::RootKey;
use keyceremony::shamir::SplitParams;
use keyceremony::split::{self, KeySource, OutputKind, SplitRequest, Transport, TransportKind};
use keyceremony::token::manage::{self, InitRequest};
use keyceremony::token::soft::{SoftProvider, TouchResponse};
use keyceremony::token::{Pin, PinPolicy, Token, TokenError, TouchPolicy};
use keyceremony::verify::{self, InputVerdict};

const KEY_HEX: &str = "201f1e1d1c1b1a191817161514131211100f0e0d0c0b0a090807060504030201";
const SERIAL: u32 = 30000001;

struct Room {
    _tmp: tempfile::TempDir,
    tokens: PathBuf,
    out: PathBuf,
}

impl Room {
    fn inputs(&self) -> InputOptions {
        InputOptions {
            test_tokens: Some(self.tokens.clone()),
            ..InputOptions::default()
        }
    }

    fn token(&self) -> keyceremony::token::soft::SoftToken {
        SoftProvider::new(&self.tokens).open_soft(SERIAL).unwrap()
    }
}

/// A folder with one test token, its key made through the library with the
/// PIN asked on the console.
fn room() -> Room {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    let out = tmp.path().join("out");
    let mut console = ScriptedConsole::new().expect_secret("PIN for TEST TOKEN 30000001", "123456");
    let mut events = Vec::new();
    let made = manage::init(
        Some(&tokens),
        &InitRequest {
            serial: SERIAL,
            pin_file: None,
            slot: None,
            pin_policy: PinPolicy::Once,
            touch_policy: TouchPolicy::Always,
        },
        &mut console,
        &mut events,
    )
    .unwrap();
    assert!(made.test_token && made.default_pin);
    assert!(made.created_test_token.is_some());
    let asked = console.finish();
    assert!(asked[0].prompt.contains("(3 tries left)"), "{asked:?}");
    Room {
        _tmp: tmp,
        tokens,
        out,
    }
}

fn key() -> RootKey {
    RootKey::from_hex(KEY_HEX).unwrap()
}

fn pin(text: &str) -> Pin {
    Pin::from_pin_text(zeroize::Zeroizing::new(text.into())).unwrap()
}

fn target(room: &Room) -> seal_target::SealTarget {
    seal_target::resolve(
        &SealTargetRequest {
            serials: vec![SERIAL],
            ..Default::default()
        },
        3,
        Some(&room.tokens),
    )
    .unwrap()
    .remove(0)
}

/// Split 2 of 3: share 1 sealed to the token, share 2 a QR sheet without a
/// shard file, share 3 a shard file.
fn split_into(room: &Room) -> split::SplitReport {
    split::split(SplitRequest {
        params: SplitParams::new(2, 3).unwrap(),
        key: KeySource::Key(key()),
        label: "library flow".into(),
        custodians: vec!["Alice".into(), "Bob".into(), "Carol".into()],
        out: room.out.clone(),
        force: false,
        transports: vec![
            Transport::Sealed(target(room)),
            Transport::QrSheet { shard_file: false },
            Transport::ShardFile,
        ],
    })
    .unwrap()
}

fn touches(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::TouchNeeded {
                    prompt: TouchPrompt::Now,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn split_with_a_sealed_share_then_verify_and_assemble_through_the_console() {
    let room = room();
    let report = split_into(&room);

    // The report says what each custodian got, with the written files' hashes.
    assert_eq!(report.shares.len(), 3);
    let sealed = &report.shares[0];
    assert_eq!(sealed.transport, TransportKind::Sealed);
    let to = sealed.sealed_to.as_ref().unwrap();
    assert_eq!(to.serial, Some(SERIAL));
    assert_eq!(to.slot.unwrap().to_string(), "82");
    assert!(to.test_token);
    assert_eq!(sealed.custodian.as_deref(), Some("Alice"));
    let qr = &report.shares[1];
    assert_eq!(qr.transport, TransportKind::QrSheet);
    assert!(qr.qr_version.is_some_and(|v| (1..=40).contains(&v)));
    assert!(qr.output(OutputKind::ShardFile).is_none());
    assert!(qr.output(OutputKind::QrSheet).is_some());
    assert_eq!(report.shares[2].outputs[0].kind, OutputKind::ShardFile);
    for f in report.files() {
        assert_eq!(
            Sha256Digest::of(&std::fs::read(&f.path).unwrap()),
            f.sha256,
            "{f:?}"
        );
    }
    assert!(!room.out.join("shard-2.json").exists());
    assert_eq!(report.record.path, room.out.join("ceremony.json"));

    // verify: the PIN asked once, on the console; the token and touch told as events.
    let paths: Vec<PathBuf> = [
        "ceremony.json",
        "shard-1.age",
        "shard-2.png",
        "shard-3.json",
    ]
    .iter()
    .map(|p| room.out.join(p))
    .collect();
    let mut console = ScriptedConsole::new().expect_secret("PIN for TEST TOKEN 30000001", "123456");
    let mut events = Vec::new();
    let mut unsealer = room.inputs().unsealer();
    let v = verify::verify(&paths, &mut unsealer, &mut console, &mut events);
    assert!(v.ok, "{v:?}");
    assert!(v.problems.is_empty());
    let set = v.set.as_ref().unwrap();
    assert_eq!(set.good_ids, vec![1, 2, 3]);
    assert!(set.from_record);
    assert!(matches!(set.reconstructed, Some(Ok(()))));
    let opened_by = v.inputs.iter().find_map(|i| match i {
        InputVerdict::Shard {
            sealed: Some(with),
            facts,
            ..
        } => Some((facts.id, with.serial, with.slot.to_string())),
        _ => None,
    });
    assert_eq!(opened_by, Some((1, SERIAL, "82".to_string())));
    assert_eq!(console.finish().len(), 1);
    assert!(
        matches!(&events[0], Event::SealedShareFound { path, .. } if path.ends_with("shard-1.age"))
    );
    assert_eq!(touches(&events), 1);
    assert!(events.iter().all(|e| e.severity() == Severity::Info));

    // assemble: the key in its zeroizing type, the report without it.
    let mut console = ScriptedConsole::new().expect_secret("PIN for TEST TOKEN 30000001", "123456");
    let mut events = Vec::new();
    let mut unsealer = room.inputs().unsealer();
    let got = assemble::assemble(
        &[room.out.join("shard-1.age"), room.out.join("shard-3.json")],
        false,
        &mut unsealer,
        &mut console,
        &mut events,
    )
    .unwrap();
    console.finish();
    assert!(got.key == key());
    assert_eq!(got.report.used.len(), 2);
    assert!(got.report.left_out.is_empty());
    assert_eq!(got.report.reference.label, "library flow");
    let done = assemble::deliver(
        &got.key,
        &got.report.reference,
        KeyOutput::DryRun,
        &mut events,
    );
    assert!(matches!(done, Ok(Delivered::DryRun)));
    let key_file = room.out.join("key.out");
    let done = assemble::deliver(
        &got.key,
        &got.report.reference,
        KeyOutput::KeyFile {
            path: key_file.clone(),
            force: false,
        },
        &mut events,
    );
    assert!(matches!(done, Ok(Delivered::KeyFile(p)) if p == key_file));
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        format!("{KEY_HEX}\n")
    );
}

#[test]
fn one_custodian_at_a_time_each_share_checked_back_before_the_next() {
    let room = room();
    let shares = split::split_key(
        &key(),
        SplitParams::new(2, 3).unwrap(),
        "one at a time",
        &["Alice".into(), "Bob".into(), "Carol".into()],
    )
    .unwrap();
    let record = split::write_record(&shares, &room.out, false).unwrap();
    assert_eq!(record.kind, OutputKind::CeremonyRecord);
    let t = target(&room);
    let mut unsealer = room.inputs().unsealer();

    // Alice: sealed to her token, unsealed on it with her PIN and touch.
    let alice =
        split::write_share(&shares, 0, &Transport::Sealed(t.clone()), &room.out, false).unwrap();
    let file = alice.output(OutputKind::SealedShare).unwrap();
    check_back::sealed_file(&file.path, &file.sha256).unwrap();
    let mut console = ScriptedConsole::new().expect_secret("PIN for TEST TOKEN 30000001", "123456");
    let mut events = Vec::new();
    let with = check_back::sealed_share(
        &file.path,
        shares.shard(1).unwrap(),
        Some(&t),
        &mut unsealer,
        &mut console,
        &mut events,
    )
    .unwrap();
    console.finish();
    assert_eq!((with.serial, with.test_token), (SERIAL, true));
    assert_eq!(touches(&events), 1);

    // Bob: a QR sheet, decoded from the written image.
    let bob = split::write_share(
        &shares,
        1,
        &Transport::QrSheet { shard_file: false },
        &room.out,
        false,
    )
    .unwrap();
    let png = bob.output(OutputKind::QrPng).unwrap();
    assert_eq!(
        check_back::qr_image(&png.path, shares.shard(2).unwrap())
            .unwrap()
            .codes,
        1
    );
    // ... and a scan of somebody else's sheet is not Bob's share.
    match check_back::qr_image(&png.path, shares.shard(3).unwrap()) {
        Err(Error::ReadBack {
            problem: ReadBack::QrNotFound,
            path,
        }) => assert_eq!(path, png.path),
        other => panic!("{other:?}"),
    }

    // Carol: a shard file, re-read.
    let carol = split::write_share(&shares, 2, &Transport::ShardFile, &room.out, false).unwrap();
    let f = carol.output(OutputKind::ShardFile).unwrap();
    check_back::shard_file(&f.path, shares.shard(3).unwrap()).unwrap();
    assert!(matches!(
        check_back::shard_file(&f.path, shares.shard(2).unwrap()),
        Err(Error::ReadBack {
            problem: ReadBack::DifferentShare,
            ..
        })
    ));
    check_back::reconstructs(&shares, &key()).unwrap();
    assert!(check_back::reconstructs(&shares, &RootKey::generate()).is_err());

    // An existing output is not replaced without force.
    assert!(matches!(
        split::write_share(&shares, 2, &Transport::ShardFile, &room.out, false),
        Err(Error::Exists { .. })
    ));
}

fn sealed_check(room: &Room, console: &mut ScriptedConsole) -> keyceremony::Result<()> {
    let report = split::split(SplitRequest {
        params: SplitParams::new(2, 2).unwrap(),
        key: KeySource::Generate,
        label: "checks".into(),
        custodians: vec![],
        out: room.out.clone(),
        force: true,
        transports: vec![Transport::Sealed(target(room)), Transport::ShardFile],
    })
    .unwrap();
    let path = report.shares[0].outputs[0].path.clone();
    let bytes = std::fs::read(&path).unwrap();
    let mut unsealer = room.inputs().unsealer();
    unsealer
        .unseal_shard(&path, &bytes, console, &mut Vec::new())
        .map(|_| ())
}

fn token_error(r: keyceremony::Result<()>) -> (TokenError, Option<PathBuf>) {
    match r {
        Err(Error::Token { source, path }) => (source, path),
        other => panic!("expected a token error, got {other:?}"),
    }
}

#[test]
fn a_wrong_pin_says_how_many_tries_are_left() {
    let room = room();
    let mut console = ScriptedConsole::new().expect_secret("(3 tries left)", "000000");
    let (e, path) = token_error(sealed_check(&room, &mut console));
    assert!(
        matches!(e, TokenError::WrongPin { tries_left: 2, .. }),
        "{e:?}"
    );
    assert!(path.unwrap().ends_with("shard-1.age"));
    console.finish();

    // The same through verify: a rejected input carrying the typed error.
    let mut console = ScriptedConsole::new().expect_secret("(2 tries left)", "000000");
    let mut unsealer = room.inputs().unsealer();
    let v = verify::verify(
        &[room.out.join("shard-1.age")],
        &mut unsealer,
        &mut console,
        &mut Vec::new(),
    );
    console.finish();
    assert!(!v.ok);
    match &v.inputs[0] {
        InputVerdict::Bad(r) => match &r.reason {
            Rejection::Unreadable { error, .. } => assert!(matches!(
                error.token_error(),
                Some(TokenError::WrongPin { tries_left: 1, .. })
            )),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(matches!(&v.problems[0], SetProblem::Rejected(_)));
}

#[test]
fn the_last_pin_try_is_spent_only_when_confirmed() {
    let room = room();
    let mut t = room.token();
    for _ in 0..2 {
        assert!(t.verify_pin(&pin("000000")).is_err());
    }
    // Refused at the prompt: no PIN asked, no try spent.
    let mut console = ScriptedConsole::new().expect_confirm("ONE PIN try left", false);
    let (e, _) = token_error(sealed_check(&room, &mut console));
    assert!(matches!(e, TokenError::LastPinTry(_)), "{e:?}");
    let asked = console.finish();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].kind, PromptKind::Confirm);
    assert_eq!(room.token().pin_tries_left().unwrap(), 1);

    // Confirmed: the PIN is asked, and the right one opens the share.
    let mut console = ScriptedConsole::new()
        .expect_confirm("ONE PIN try left", true)
        .expect_secret("(1 try left)", "123456");
    sealed_check(&room, &mut console).unwrap();
    console.finish();
    assert_eq!(room.token().pin_tries_left().unwrap(), 3);
}

#[test]
fn a_blocked_pin_is_told_apart_and_nothing_is_asked() {
    let room = room();
    let mut t = room.token();
    for _ in 0..3 {
        assert!(t.verify_pin(&pin("000000")).is_err());
    }
    let mut console = ScriptedConsole::new();
    let (e, _) = token_error(sealed_check(&room, &mut console));
    assert!(matches!(e, TokenError::PinBlocked { .. }), "{e:?}");
    assert!(console.finish().is_empty());
}

#[test]
fn a_token_pulled_out_or_not_touched_fails_the_check_back() {
    let room = room();
    room.token()
        .set_touch_response(TouchResponse::Never)
        .unwrap();
    let mut console = ScriptedConsole::new().expect_secret("PIN for", "123456");
    let (e, _) = token_error(sealed_check(&room, &mut console));
    assert!(matches!(e, TokenError::TouchTimeout(_)), "{e:?}");
    console.finish();

    room.token()
        .set_touch_response(TouchResponse::Unplug)
        .unwrap();
    let mut console = ScriptedConsole::new().expect_secret("PIN for", "123456");
    let (e, _) = token_error(sealed_check(&room, &mut console));
    assert!(matches!(e, TokenError::Removed(_)), "{e:?}");
    console.finish();

    // Gone now: the share's token is not found.
    let shares = split::split_key(&key(), SplitParams::new(2, 2).unwrap(), "x", &[]).unwrap();
    let mut unsealer = room.inputs().unsealer();
    let r = check_back::sealed_share(
        &room.out.join("shard-1.age"),
        shares.shard(1).unwrap(),
        None,
        &mut unsealer,
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    );
    let (e, _) = token_error(r.map(|_| ()));
    assert!(
        matches!(
            e,
            TokenError::NoTestTokens(_) | TokenError::NoMatchingToken { .. }
        ),
        "{e:?}"
    );
}

#[test]
fn an_image_without_the_share_fails_the_qr_check_back() {
    let room = room();
    let shares = split::split_key(&key(), SplitParams::new(2, 3).unwrap(), "qr", &[]).unwrap();
    std::fs::create_dir_all(&room.out).unwrap();
    let blank = room.out.join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255]))
        .save(&blank)
        .unwrap();
    match check_back::qr_image(&blank, shares.shard(1).unwrap()) {
        Err(e @ Error::Input { .. }) => {
            assert_eq!(e.path(), Some(blank.as_path()));
            assert!(e.to_string().contains("no QR code could be read"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn left_out_inputs_are_events_and_report_entries() {
    let room = room();
    let report = split_into(&room);
    let damaged = room.out.join("damaged.json");
    let text = std::fs::read_to_string(&report.shares[2].outputs[0].path).unwrap();
    std::fs::write(&damaged, text.replace("Carol", "Carl")).unwrap();
    let mut events = Vec::new();
    let mut unsealer = room.inputs().unsealer();
    let got = assemble::assemble(
        &[
            room.out.join("shard-2.png"),
            room.out.join("shard-3.json"),
            damaged.clone(),
        ],
        false,
        &mut unsealer,
        &mut ScriptedConsole::new(),
        &mut events,
    )
    .unwrap();
    assert_eq!(got.report.left_out.len(), 1);
    assert!(matches!(
        &events[..],
        [Event::LeftOut(SetProblem::Rejected(r))] if r.source == damaged.display().to_string()
    ));
    assert_eq!(events[0].severity(), Severity::Warning);
    assert!(events[0].to_string().starts_with("warning: left out "));

    // With too few good shares, the typed error lists what was left out.
    let r = assemble::assemble(
        &[room.out.join("shard-3.json"), damaged],
        false,
        &mut unsealer,
        &mut ScriptedConsole::new(),
        &mut Vec::new(),
    );
    match r {
        Err(Error::Recovery(keyceremony::recovery::RecoveryError::NotEnough {
            needed: 2,
            have: 1,
            left_out,
            ..
        })) => assert_eq!(left_out.len(), 1),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("assembled from one good shard"),
    }
}

#[test]
fn request_mistakes_are_typed_and_nothing_is_written() {
    let room = room();
    let t = target(&room);
    let r = seal_target::resolve(
        &SealTargetRequest {
            serials: vec![SERIAL, SERIAL],
            ..Default::default()
        },
        3,
        Some(&room.tokens),
    );
    assert!(matches!(
        r,
        Err(Error::Request(RequestError::SameToken {
            first: 1,
            second: 2,
            ..
        }))
    ));
    let r = split::split(SplitRequest {
        params: SplitParams::new(2, 3).unwrap(),
        key: KeySource::Key(key()),
        label: "x".into(),
        custodians: vec![],
        out: room.out.clone(),
        force: false,
        transports: vec![Transport::Sealed(t), Transport::ShardFile],
    });
    assert!(matches!(
        r,
        Err(Error::Request(RequestError::TransportCount {
            given: 2,
            shares: 3
        }))
    ));
    assert!(!room.out.exists());
    let r = split::split(SplitRequest {
        params: SplitParams::new(2, 2).unwrap(),
        key: KeySource::KeyFile(Path::new("/nonexistent/key").into()),
        label: "x".into(),
        custodians: vec![],
        out: room.out.clone(),
        force: false,
        transports: vec![Transport::ShardFile, Transport::ShardFile],
    });
    // a key file that is not there is said to be missing, as a type
    assert!(matches!(
        r,
        Err(Error::InputFile {
            source: keyceremony::input_file::InputFileError::Missing { .. },
            ..
        })
    ));
    assert!(!room.out.exists());
}

#[test]
fn bundle_passphrases_go_through_the_console() {
    let room = room();
    let mut console = ScriptedConsole::new()
        .expect_secret("Passphrase for the Nexus backup", "one passphrase")
        .expect_secret("The same passphrase again", "another one");
    assert!(matches!(
        keyceremony::bundle::ask_new_passphrase(&mut console),
        Err(Error::Request(RequestError::PassphrasesDiffer))
    ));
    console.finish();

    let mut console = ScriptedConsole::new()
        .expect_secret("Passphrase for the Nexus backup", "one passphrase")
        .expect_secret("The same passphrase again", "one passphrase");
    let pass = keyceremony::bundle::ask_new_passphrase(&mut console).unwrap();
    console.finish();
    std::fs::create_dir_all(&room.out).unwrap();
    let out = room.out.join("backup.bin");
    let mut events = Vec::new();
    let sealed = keyceremony::bundle::seal_key(
        &key(),
        keyceremony::bundle::SealRequest {
            meta: keyceremony::bundle::BundleMeta::new(None, "flow"),
            includes: vec![],
            sealing: keyceremony::bundle::Sealing::NexusBackup(pass),
            out: out.clone(),
            force: false,
        },
        &mut events,
    )
    .unwrap();
    assert_eq!(sealed.created.path, out);
    assert!(matches!(&events[..], [Event::UnusualBundleName { path }] if *path == out));

    let mut console =
        ScriptedConsole::new().expect_secret("Passphrase of the Nexus backup", "one passphrase");
    let unsealing = keyceremony::bundle::unsealing_for(&out, &[], None, &mut console).unwrap();
    console.finish();
    let mut events = Vec::new();
    let c = keyceremony::bundle::verify_bundle(
        &out,
        &unsealing,
        &keyceremony::bundle::Options::default(),
        &mut events,
    )
    .unwrap();
    assert_eq!(c.key_fingerprint, Some(key().fingerprint()));
    assert!(events.is_empty());
}

#[test]
fn a_share_typed_from_a_sheet_is_read_through_the_console() {
    let room = room();
    let shares = split::split_key(&key(), SplitParams::new(2, 3).unwrap(), "typed", &[]).unwrap();
    let lines = keyceremony::qr::typed::fallback_lines(shares.shard(2).unwrap());
    let mut console =
        ScriptedConsole::new().expect_line("Type the fallback lines", "01 nonsense 00");
    console = console.expect_line("the check characters do not match", &lines[0]);
    for (i, l) in lines.iter().enumerate().skip(1) {
        console = console.expect_line(&format!("line {} of {}", i + 1, lines.len()), l);
    }
    let mut events = Vec::new();
    let shard = keyceremony::qr::read_typed_share_from(&mut console, &mut events).unwrap();
    console.finish();
    assert!(keyceremony::qr::same_share(
        &shard,
        shares.shard(2).unwrap()
    ));
    assert!(matches!(&events[..], [Event::TypedShareRead { id: 2, .. }]));
    drop(room);
}

/// Each step seen: its name, its size, the bytes counted.
type StepLog = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<u64>, u64)>>>;

/// An event sink whose progress handle records each step, as a runner
/// that shows its own progress would.
struct WithProgress {
    events: Vec<Event>,
    steps: StepLog,
}

struct StepSeen {
    index: usize,
    steps: StepLog,
}

impl keyceremony::progress::StepProgress for StepSeen {
    fn advance(&self, bytes: u64) {
        self.steps.lock().unwrap()[self.index].2 += bytes;
    }
    fn finish(&self) {}
}

struct Steps(StepLog);

impl keyceremony::progress::ProgressSink for Steps {
    fn begin(
        &self,
        step: keyceremony::progress::Step,
        total: Option<u64>,
    ) -> std::sync::Arc<dyn keyceremony::progress::StepProgress> {
        let mut steps = self.0.lock().unwrap();
        steps.push((step.to_string(), total, 0));
        std::sync::Arc::new(StepSeen {
            index: steps.len() - 1,
            steps: std::sync::Arc::clone(&self.0),
        })
    }
}

impl keyceremony::events::EventSink for WithProgress {
    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }
    fn progress(&self) -> keyceremony::progress::Progress {
        keyceremony::progress::Progress::new(std::sync::Arc::new(Steps(std::sync::Arc::clone(
            &self.steps,
        ))))
    }
}

#[test]
fn long_steps_report_progress_to_the_sink_and_print_nothing() {
    let room = room();
    std::fs::create_dir_all(&room.out).unwrap();
    let out = room.out.join("k.tar.gz.enc");
    let mut console = ScriptedConsole::new()
        .expect_secret("Passphrase for the Nexus backup", "one passphrase")
        .expect_secret("The same passphrase again", "one passphrase");
    let pass = keyceremony::bundle::ask_new_passphrase(&mut console).unwrap();
    console.finish();
    let mut sink = WithProgress {
        events: Vec::new(),
        steps: Default::default(),
    };
    let data = room.out.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("blob"), vec![7u8; 100_000]).unwrap();
    let includes = keyceremony::bundle::Include::collect_in(&room.out, Path::new("data")).unwrap();
    keyceremony::bundle::seal_key(
        &key(),
        keyceremony::bundle::SealRequest {
            meta: keyceremony::bundle::BundleMeta::new(None, "progress"),
            includes,
            sealing: keyceremony::bundle::Sealing::NexusBackup(pass),
            out: out.clone(),
            force: false,
        },
        &mut sink,
    )
    .unwrap();
    let sealed: Vec<_> = sink.steps.lock().unwrap().clone();
    assert_eq!(sealed.len(), 2, "{sealed:?}");
    assert!(sealed[0].0.starts_with("deriving the key"), "{sealed:?}");
    assert_eq!(sealed[0].1, None);
    assert_eq!(sealed[1].0, "sealing");
    // the included file's bytes, each counted
    assert_eq!(sealed[1].1, Some(100_000), "{sealed:?}");
    assert_eq!(sealed[1].2, 100_000, "{sealed:?}");

    let mut console =
        ScriptedConsole::new().expect_secret("Passphrase of the Nexus backup", "one passphrase");
    let unsealing = keyceremony::bundle::unsealing_for(&out, &[], None, &mut console).unwrap();
    console.finish();
    sink.steps.lock().unwrap().clear();
    keyceremony::bundle::verify_bundle(
        &out,
        &unsealing,
        &keyceremony::bundle::Options::default(),
        &mut sink,
    )
    .unwrap();
    let read: Vec<String> = sink
        .steps
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(read.len(), 3, "{read:?}");
    assert_eq!(&read[1..], ["checking", "opening"]);
    let file_len = std::fs::metadata(&out).unwrap().len();
    for s in &sink.steps.lock().unwrap()[1..] {
        assert!(s.1.is_some_and(|t| t > 0 && t < file_len), "{s:?}");
        assert_eq!(Some(s.2), s.1, "every byte counted: {s:?}");
    }
}
