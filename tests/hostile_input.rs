//! Hostile and unlucky inputs, end to end (issue 10 points 2 and 5, and the
//! input items of point 9): each is refused quickly with a message naming
//! the file and the problem, nothing blocks or grows without bound, and
//! nothing read from a file reaches the terminal unescaped.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bin, run, testdata, Run};

/// Long enough for a slow, shared machine; far shorter than a hang.
const PATIENCE: Duration = Duration::from_secs(20);

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn run_timed<I, S>(args: I) -> (Run, Duration)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let started = Instant::now();
    let out = bin().args(args).timeout(PATIENCE).output().expect("runs");
    (out.into(), started.elapsed())
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(st.success());
}

/// The `BAD` line `verify` prints for `path`.
fn bad_line<'a>(r: &'a Run, path: &str) -> &'a str {
    r.stdout
        .lines()
        .find(|l| l.starts_with("BAD") && l.contains(path))
        .unwrap_or_else(|| panic!("no BAD line for {path}: {}\n{}", r.stdout, r.stderr))
}

fn known(name: &str) -> PathBuf {
    testdata(&format!("known-key/{name}"))
}

fn spike(name: &str) -> PathBuf {
    testdata(&format!("spike/2-of-3/{name}"))
}

// ------------------------------------------------- point 2: bounded reads

#[test]
fn split_from_spike_refuses_dev_zero_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (r, took) = run_timed([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--out",
        p(&out),
        "--spike-threshold",
        "2",
        "--from-spike",
        "/dev/zero",
        p(&spike("spike.recovery.2.txt")),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("/dev/zero") && r.stderr.contains("is a device, not a regular file"),
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!out.exists());
}

#[test]
fn a_folder_given_as_a_spike_file_is_called_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shards");
    fs::create_dir(&dir).unwrap();
    let r = run([
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--out",
        p(&tmp.path().join("out")),
        "--spike-threshold",
        "2",
        "--from-spike",
        p(&dir),
        p(&spike("spike.recovery.2.txt")),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}: is a folder, not a SPIKE recovery shard",
            p(&dir)
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("large"), "{}", r.stderr);
}

#[test]
fn a_fifo_given_to_verify_is_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("shard.json");
    mkfifo(&fifo);
    let (r, took) = run_timed(["verify", p(&fifo), p(&known("shard-2.json"))]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let line = bad_line(&r, p(&fifo));
    assert!(
        line.contains("is a pipe (FIFO), not a regular file"),
        "{line}"
    );
    assert!(line.contains("give `-`"), "{line}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn a_fifo_given_to_other_readers_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo);
    for args in [
        vec!["ceremony", "check-plan", p(&fifo)],
        vec!["ceremony", "verify-transcript", p(&fifo)],
        vec!["bundle", "inspect", p(&fifo)],
        vec!["qr", "decode", p(&fifo)],
    ] {
        let (r, took) = run_timed(&args);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(
            r.stderr.contains(p(&fifo)) && r.stderr.contains("is a pipe (FIFO)"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
}

#[test]
fn dash_reads_standard_input_once() {
    let shard = fs::read(known("shard-1.json")).unwrap();
    let out = bin()
        .args(["verify", "-", p(&known("shard-2.json"))])
        .write_stdin(shard.clone())
        .timeout(PATIENCE)
        .output()
        .unwrap();
    let r: Run = out.into();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("standard input (-)"), "{}", r.stdout);

    // assemble takes it too, and `-` twice is refused for the second
    let out = bin()
        .args(["verify", "-", "-"])
        .write_stdin(shard)
        .timeout(PATIENCE)
        .output()
        .unwrap();
    let r: Run = out.into();
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("standard input can be read only once"),
        "{}",
        r.stdout
    );
}

#[test]
fn dev_stdin_is_read_when_a_file_and_refused_clearly_when_a_pipe() {
    // standard input redirected from a file: /dev/stdin is that regular file
    let file = fs::File::open(known("shard-1.json")).unwrap();
    // (the binary assert_cmd would run, but with a file, not a pipe, as stdin)
    let exe = std::env::var_os("CARGO_BIN_EXE_keyceremony").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_keyceremony")),
        PathBuf::from,
    );
    let out = std::process::Command::new(exe)
        .args(["verify", "/dev/stdin"])
        .stdin(Stdio::from(file))
        .output()
        .unwrap();
    let r: Run = out.into();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // a pipe: refused with the way to read it, not read twice and misnamed
    let out = bin()
        .args(["verify", "/dev/stdin"])
        .write_stdin(fs::read(known("shard-1.json")).unwrap())
        .timeout(PATIENCE)
        .output()
        .unwrap();
    let r: Run = out.into();
    assert_eq!(r.code, 1, "{}", r.stdout);
    let line = bad_line(&r, "/dev/stdin");
    assert!(
        line.contains("is a pipe (FIFO), not a regular file; to read standard input, give `-`"),
        "{line}"
    );
}

// ------------------------------------- point 9: JSON read strictly and named

#[test]
fn a_byte_order_mark_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("shard-1.json");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(fs::read(known("shard-1.json")).unwrap());
    fs::write(&f, bytes).unwrap();
    let r = run(["verify", p(&f)]);
    assert_eq!(r.code, 1);
    assert!(
        bad_line(&r, p(&f)).contains("UTF-8 byte-order mark (BOM)"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_blank_file_is_called_blank() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("short.json", " \n\t\n".to_string()),
        ("long.json", " ".repeat(5000) + "\n"),
    ] {
        let f = tmp.path().join(name);
        fs::write(&f, content).unwrap();
        let r = run(["verify", p(&f)]);
        assert_eq!(r.code, 1);
        let line = bad_line(&r, p(&f));
        assert!(line.contains("holds only blank space"), "{line}");
    }
}

/// The file's text with `"key": value,` put in again right after the `{`.
fn with_repeated_key(path: &Path, key: &str, value: &str) -> String {
    let text = fs::read_to_string(path).unwrap();
    let rest = text.trim_start().strip_prefix('{').unwrap();
    format!("{{\n  \"{key}\": {value},{rest}")
}

#[test]
fn a_repeated_json_key_is_refused_in_shards_and_records() {
    let tmp = tempfile::tempdir().unwrap();
    // the later `format` is the real one: last-wins would accept the file
    let cases = [
        ("shard-1.json", "format", "\"something-else\""),
        ("shard-1.json", "label", "\"another label\""),
        ("ceremony.json", "format", "\"something-else\""),
        ("ceremony.json", "threshold", "2"),
    ];
    for (file, key, value) in cases {
        let f = tmp.path().join(format!("{key}-{file}"));
        fs::write(&f, with_repeated_key(&known(file), key, value)).unwrap();
        let r = run(["verify", p(&f)]);
        assert_eq!(r.code, 1, "{key} in {file}: {}", r.stdout);
        let line = bad_line(&r, p(&f));
        assert!(
            line.contains(&format!("the key \"{key}\" appears twice")),
            "{line}"
        );
        // assemble refuses the same file the same way
        let r = run([
            "assemble",
            p(&f),
            p(&known("shard-2.json")),
            p(&known("shard-3.json")),
            p(&known("shard-4.json")),
            "--reveal",
        ]);
        assert!(
            r.stderr.contains("appears twice") || r.stdout.contains("appears twice"),
            "{key} in {file}: {}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn a_repeated_key_in_a_plan_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = fs::read_to_string(testdata("ceremony/plan.toml")).unwrap();
    let f = tmp.path().join("plan.toml");
    let first = plan.lines().find(|l| l.starts_with("version")).unwrap();
    fs::write(&f, plan.replacen(first, &format!("{first}\n{first}"), 1)).unwrap();
    let r = run(["ceremony", "check-plan", p(&f)]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stderr.contains(p(&f)) && r.stderr.to_lowercase().contains("duplicate"),
        "{}",
        r.stderr
    );
}

// ----------------------------------- point 5: names from files, escaped

/// What a terminal would obey: ESC, BEL, CR, C1 controls, bidi overrides,
/// zero-width characters. (Line breaks are checked line by line.)
fn obeyed(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    })
}

fn assert_shown_escaped(r: &Run) {
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if let Some(c) = obeyed(text) {
            panic!("{name} holds U+{:04X} raw:\n{text}", c as u32);
        }
    }
}

#[test]
fn bundle_inspect_shows_a_hostile_stanza_type_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("evil.age");
    fs::write(
        &f,
        b"age-encryption.org/v1\n-> \x1b]0;owned\x07 \x1b[2J\xe2\x80\xaeok\nAAAA\n--- AAAA\nxxxxxxxx",
    )
    .unwrap();
    for json in [false, true] {
        let mut args = vec!["bundle", "inspect", p(&f)];
        if json {
            args.push("--json");
        }
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_shown_escaped(&r);
        if !json {
            assert!(r.stdout.contains("\\u{1b}]0;owned\\u{7}"), "{}", r.stdout);
            assert!(r.stdout.contains("\\u{202e}ok"), "{}", r.stdout);
        } else {
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(v["stanzas"][0]["kind"], "\u{1b}]0;owned\u{7}");
        }
    }
}

#[test]
fn a_hostile_tar_entry_name_is_listed_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = tmp.path().join("extra");
    fs::create_dir(&extra).unwrap();
    // a name that would clear the screen and fake a second line of the listing
    let evil = "a\nBAD keys-root.key\u{1b}[2J\u{7}\u{202e}txt.exe";
    fs::write(extra.join(evil), b"hello").unwrap();
    let identity = age::x25519::Identity::generate();
    let id_file = tmp.path().join("id.txt");
    fs::write(
        &id_file,
        secrecy::ExposeSecret::expose_secret(&identity.to_string()).to_string() + "\n",
    )
    .unwrap();
    let bundle = tmp.path().join("b.tar.age");
    let r: Run = bin()
        .current_dir(tmp.path())
        .args([
            "bundle",
            "create",
            "--key-file",
            p(&known("key.hex")),
            "--recipient",
            &identity.to_public().to_string(),
            "--include",
            "extra",
            "--out",
            p(&bundle),
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(["bundle", "verify", p(&bundle), "--identity", p(&id_file)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_shown_escaped(&r);
    assert!(
        !r.stdout.lines().any(|l| l.starts_with("BAD")),
        "a made-up line: {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("a\\nBAD keys-root.key\\u{1b}[2J\\u{7}\\u{202e}txt.exe"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_hostile_format_tag_is_shown_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("shard.json");
    fs::write(
        &f,
        "{\"format\": \"x\\n\\u001b[2JOK shard-9.json\\u0007\", \"version\": 1}",
    )
    .unwrap();
    let r = run(["verify", p(&f)]);
    assert_eq!(r.code, 1);
    assert_shown_escaped(&r);
    assert!(
        !r.stdout.lines().any(|l| l.starts_with("OK")),
        "a made-up line: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("unknown format \"x\\n\\u{1b}[2JOK"),
        "{}",
        r.stdout
    );
}

// ------------------------------------------- point 9: names and values given

#[test]
fn invisible_characters_in_new_labels_and_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--label", "prod root \u{202e}6202"),
        ("--label", "prod\u{200b}root"),
        ("--custodian", "Ali\u{2066}ce"),
    ] {
        let out = tmp.path().join("out");
        let r = run([
            "split",
            "-t",
            "2",
            "-n",
            "2",
            "--generate",
            "--out",
            p(&out),
            flag,
            value,
        ]);
        assert_eq!(r.code, 2, "{flag} {value:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(flag) && r.stderr.contains("invisible character"),
            "{flag}: {}",
            r.stderr
        );
        assert_shown_escaped(&r);
        assert!(!out.exists());
    }
    let r = run([
        "bundle",
        "create",
        "--key-file",
        p(&known("key.hex")),
        "--recipient",
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "--label",
        "root\u{202e}",
        "--out",
        p(&tmp.path().join("b.age")),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invisible character"), "{}", r.stderr);
}

#[test]
fn a_label_with_invisible_characters_is_read_and_shown_escaped() {
    // written by another tool (or an older keyceremony): still verified,
    // the override shown, not obeyed
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("ceremony.json");
    let bytes = fs::read(known("ceremony.json")).unwrap();
    let mut record = match keyceremony::shard::parse_document(&bytes).unwrap() {
        keyceremony::shard::JsonDocument::Record(r) => *r,
        _ => unreachable!(),
    };
    record.info.label = "test vector: \u{202e}yek nwonk".into();
    fs::write(&f, record.to_json()).unwrap();
    for args in [vec!["verify", p(&f)], vec!["verify", "--json", p(&f)]] {
        let r = run(&args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert_shown_escaped(&r);
        assert!(
            r.stdout.contains("\\u{202e}yek nwonk") || r.stdout.contains("\\u202eyek nwonk"),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn a_bad_recipient_is_not_echoed_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let share = "d84020014a385799c718f80975a458ff3298fafd491e8ce0f21eaca73147751e";
    let identity = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    for (value, hidden) in [
        (share, &share[4..]),
        (identity, &identity[15..]),
        ("age1notarecipientatallbutlong", "notarecipient"),
    ] {
        let r = run([
            "bundle",
            "create",
            "--key-file",
            p(&known("key.hex")),
            "--recipient",
            value,
            "--out",
            p(&tmp.path().join("b.age")),
        ]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("--recipient #1"), "{}", r.stderr);
        assert!(
            !r.stderr.contains(hidden) && !r.stdout.contains(hidden),
            "echoed: {}",
            r.stderr
        );
    }
}

// ------------------------------------------------------------ test tokens

fn init_test_tokens(dir: &Path, serials: &[&str]) {
    let pin = dir.with_extension("pin");
    fs::write(&pin, "123456\n").unwrap();
    for serial in serials {
        let r = run([
            "--test-tokens",
            p(dir),
            "token",
            "init",
            "--serial",
            serial,
            "--pin-file",
            p(&pin),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

#[test]
fn one_damaged_test_token_does_not_hide_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tokens");
    init_test_tokens(&dir, &["111", "222", "333"]);
    fs::write(dir.join("token-222.json"), "{\"serial\": 222, \"pin\": [").unwrap();
    let r = run(["--test-tokens", p(&dir), "token", "list"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    for serial in ["111", "333"] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("TEST TOKEN {serial} ")) && l.contains("firmware")),
            "{serial} not listed: {}",
            r.stdout
        );
    }
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("TEST TOKEN 222 "))
        .unwrap_or_else(|| panic!("222 not listed: {}", r.stdout));
    assert!(
        line.contains("DAMAGED") && line.contains("token-222.json"),
        "{line}"
    );

    let r = run(["--test-tokens", p(&dir), "--json", "token", "list"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(v["damaged"][0]["serial"], 222);
    assert_eq!(v["ok"], false);
}

#[test]
fn a_held_test_token_lock_times_out_with_a_clear_message() {
    use std::os::unix::io::AsRawFd;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tokens");
    init_test_tokens(&dir, &["111"]);
    // another "process" in the middle of an operation on the token
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("token-111.lock"))
        .unwrap();
    // SAFETY: flock on an open descriptor owned by `lock`.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let started = Instant::now();
    let out = bin()
        .env("KEYCEREMONY_TEST_TOKEN_LOCK_WAIT", "1")
        .args([
            "--test-tokens",
            p(&dir),
            "token",
            "status",
            "--serial",
            "111",
        ])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    let took = started.elapsed();
    let r: Run = out.into();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("TEST TOKEN 111 is in use by another process")
            && r.stderr.contains("token-111.lock")
            && r.stderr.contains("after 1 s"),
        "{}",
        r.stderr
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    drop(lock);
    // once let go, the same command works
    let r = run([
        "--test-tokens",
        p(&dir),
        "token",
        "status",
        "--serial",
        "111",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The bundle manifest is read into a typed struct, whose derived reader
/// refuses a repeated field; this keeps it so (a change to a last-wins
/// `Value` first would fail here).
#[test]
fn a_repeated_key_in_a_bundle_manifest_is_refused() {
    use keyceremony::bundle::Manifest;
    let m = Manifest {
        ceremony_id: None,
        label: "root key".into(),
        key_fingerprint: keyceremony::shard::parse_document(
            &fs::read(known("ceremony.json")).unwrap(),
        )
        .map(|d| match d {
            keyceremony::shard::JsonDocument::Record(r) => r.info.fingerprint,
            _ => unreachable!(),
        })
        .unwrap(),
        created: "2026-12-01T00:00:00Z".into(),
        files: Vec::new(),
    };
    let json = m.to_json();
    assert_eq!(Manifest::parse(json.as_bytes()).unwrap(), m);
    for (key, value) in [
        ("format", "\"keyceremony-bundle\""),
        ("label", "\"another\""),
    ] {
        let rest = json.trim_start().strip_prefix('{').unwrap();
        let doubled = format!("{{\"{key}\": {value},{rest}");
        let e = Manifest::parse(doubled.as_bytes()).unwrap_err();
        assert!(e.contains(&format!("duplicate field `{key}`")), "{e}");
    }
}

/// The inputs fuzzing found to crash the plan parser (a value of 256
/// quotes, which the toml crate's writer overflowed on when the message
/// showed it) and the transcript verifier (a message cut inside a
/// character): through the binary, each is a clear refusal, exit 1.
#[test]
fn the_plan_and_transcript_inputs_fuzzing_found_are_refused_not_crashed_on() {
    for (command, folder) in [
        (&["ceremony", "check-plan"][..], "plan_file"),
        (&["ceremony", "verify-transcript"][..], "transcript"),
    ] {
        let dir = testdata("fuzz-regressions").join(folder);
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let mut args: Vec<&str> = command.to_vec();
            args.push(p(&path));
            let r = run(&args);
            assert_eq!(r.code, 1, "{}: {}", path.display(), r.stderr);
            assert!(r.stderr.contains("error:"), "{}", r.stderr);
            assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        }
    }
}

/// The shard file fuzzing found with an unknown field name of hundreds of
/// DEL characters: each is shown escaped (`\u{7f}`, six times its size), so
/// the message grew without bound. Through the binary it is refused, the
/// file named, the name cut short and no line longer than 1 KiB.
#[test]
fn a_field_name_of_any_length_leaves_a_short_message() {
    let path = testdata("fuzz-regressions/json_document/unknown-field-of-1000-dels.json");
    let r = run(["verify", p(&path)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    let line = all
        .lines()
        .find(|l| l.contains("unknown field"))
        .unwrap_or_else(|| panic!("no unknown-field line in {all}"));
    assert!(line.contains("unknown-field-of-1000-dels.json"), "{line}");
    assert!(line.contains("...`"), "the name is not cut: {line}");
    assert!(
        all.lines().all(|l| l.len() < 1024),
        "a line of over 1 KiB: {all}"
    );
    assert!(!all.contains('\u{7f}'), "a raw DEL reached the terminal");
}
