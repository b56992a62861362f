//! Crash safety through the binary (issue 10, point 1): `split --qr`,
//! `bundle create`, `bundle open`, `ceremony run` and `reshare` (issue 11,
//! point 3: the old ceremony must always still assemble) killed with SIGKILL at
//! stepped moments over their whole run; after each kill every output
//! folder is absent or complete and valid, leftovers are only the hidden
//! staging folders, no file holds the root key or a share it should not,
//! and a rerun removes the leftovers and says so. Then a full disk (a small
//! tmpfs) and a read-only output folder: a clear error, nothing left.
//!
//! The kill loops print their counts (`crash_safety: ...`); docs/security.md
//! quotes them.

mod ceremony_support;
mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ceremony_support::{key_bytes, scan_folder, KEY_HEX, PIN, SMALL_CUSTODIANS};
use common::{files_below, run_in, Run};
use keyceremony::secret_scan;

const LEFTOVER_SAID: &str = "leftovers of an interrupted keyceremony run";
const STAGING: &str = ".keyceremony-staging-";
/// What `verify --record A` and `assemble A` say of a share of a re-share whose record is missing.
const NOT_RETIRED_SAID: &str =
    "a reshare folder without its ceremony.json was interrupted and retired nothing";
/// What a reshare into the folder an interrupted one left says.
const INTERRUPTED_SAID: &str = "holds the new shares of an interrupted reshare";

/// The kill loops run one at a time: each times its command unkilled first
/// and spreads its kills over that time, which other loops would distort.
static ONE_LOOP_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_loop() -> std::sync::MutexGuard<'static, ()> {
    ONE_LOOP_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn exe() -> PathBuf {
    assert_cmd::cargo::cargo_bin("keyceremony")
}

/// Runs `args` in `dir` to the end; returns how long it took.
fn timed(dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let r = run_in(dir, args);
    assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
    start.elapsed()
}

/// Starts `args` in `dir`, kills it with SIGKILL after `delay`; true when
/// it had finished by itself before that.
fn kill_after(dir: &Path, args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(exe())
        .current_dir(dir)
        .args(args)
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    std::thread::sleep(delay);
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    finished
}

/// `runs` kill moments spread over 0..105% of `full` (stepped, with a
/// jitter that differs per step so the points do not repeat), in µs.
fn kill_points(full: Duration, runs: usize, salt: u64) -> Vec<u64> {
    // Half as long again as the calibration run: on a loaded machine a run
    // may take longer than that one did, and the last kills must still
    // find it finished (the tallies assert both outcomes occur).
    let span = full.as_micros() as u64 * 3 / 2;
    (0..runs as u64)
        .map(|i| {
            let base = span * i / (runs as u64 - 1).max(1);
            let jitter = (i.wrapping_mul(2_654_435_761) ^ salt) % 997;
            base + jitter
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    kills: usize,
    finished_first: usize,
    complete: usize,
    absent: usize,
    leftovers: usize,
    leftover_files: usize,
    reruns_said_so: usize,
    points: BTreeSet<u64>,
    /// Kills between a batch's journal and its last move (ceremony run).
    journalled: usize,
    /// How long the command takes when not killed.
    full: Duration,
}

impl Tally {
    fn report(&self, what: &str) {
        eprintln!(
            "crash_safety: {what} ({} ms unkilled): {} kills at {} distinct points ({} finished before the kill); \
             outputs complete {}, absent {}; {} kills left hidden staging leftovers ({} files in them), \
             every one removed by the rerun, which said so {} times; {} kills fell between a journal and its last move",
            self.full.as_millis(),
            self.kills,
            self.points.len(),
            self.finished_first,
            self.complete,
            self.absent,
            self.leftovers,
            self.leftover_files,
            self.reruns_said_so,
            self.journalled
        );
    }
}

/// The hidden leftovers directly in `root` (asserting each is a staging
/// folder, never a bare temporary file) and the files inside them.
fn leftovers_in(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for e in fs::read_dir(root).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            continue;
        }
        let p = e.path();
        assert!(
            name.starts_with(STAGING) && p.is_dir(),
            "{}: a hidden file that is not a staging folder",
            p.display()
        );
        for f in files_below(&p) {
            files.push(p.join(f));
        }
        dirs.push(p);
    }
    (dirs, files)
}

/// Share values held by shard files below `dir` (staged or not).
fn shard_values_below(dir: &Path) -> Vec<[u8; 32]> {
    let mut v = Vec::new();
    for f in files_below(dir) {
        if f.ends_with(".json") && f.rsplit('/').next().unwrap().starts_with("shard-") {
            if let Ok(s) = keyceremony::shard::ShardFile::parse(&fs::read(dir.join(&f)).unwrap()) {
                v.push(*s.share.expose_value());
            }
        }
    }
    v
}

/// The shares of a complete split output folder, by id.
fn shares_of(out: &Path) -> Vec<(u8, [u8; 32])> {
    let mut v = Vec::new();
    for e in fs::read_dir(out).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("shard-") && name.ends_with(".json") {
            let s = keyceremony::shard::ShardFile::parse(&fs::read(e.path()).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            v.push((s.share.id().get(), *s.share.expose_value()));
        }
    }
    v.sort();
    v
}

/// No file below `dir` holds any of `gone` (the values a killed run had
/// staged, which its rerun must have scrubbed).
fn none_of(dir: &Path, gone: &[[u8; 32]]) {
    let names: Vec<String> = (0..gone.len())
        .map(|i| format!("staged share {i}"))
        .collect();
    let secrets: Vec<(&str, &[u8])> = names
        .iter()
        .zip(gone)
        .map(|(n, v)| (n.as_str(), &v[..]))
        .collect();
    for f in files_below(dir) {
        let bytes = fs::read(dir.join(&f)).unwrap();
        secret_scan::assert_clean(&f, &bytes, &secrets);
    }
}

/// `verify` on the record and every shard file of `dir/out`, as a set.
fn verify_split(dir: &Path) -> Run {
    let mut args = vec!["verify".to_string()];
    for f in files_below(&dir.join("out")) {
        if f.ends_with(".json") {
            args.push(format!("out/{f}"));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_in(dir, &args)
}

fn inputs(tmp: &Path) -> PathBuf {
    let d = tmp.join("inputs");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("key.hex"), format!("{KEY_HEX}\n")).unwrap();
    d
}

#[test]
fn split_qr_killed_at_any_moment_leaves_a_whole_folder_or_none() {
    let _one = one_loop();
    let tmp = tempfile::tempdir().unwrap();
    let key = inputs(tmp.path()).join("key.hex");
    let key = key.to_str().unwrap();
    let args = |out: &str| -> Vec<String> {
        [
            "split",
            "--qr",
            "-t",
            "2",
            "-n",
            "3",
            "--key-file",
            key,
            "--out",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    // the whole run, once, for its length and its files
    let base = tmp.path().join("base");
    fs::create_dir(&base).unwrap();
    let a = args("out");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let full = timed(&base, &a);
    let expected = files_below(&base.join("out"));
    assert_eq!(expected.len(), 13, "{expected:?}");

    let mut tally = Tally {
        full,
        ..Tally::default()
    };
    for (i, at) in kill_points(full, 32, 17).into_iter().enumerate() {
        let root = tmp.path().join(format!("k{i}"));
        fs::create_dir(&root).unwrap();
        tally.kills += 1;
        tally.points.insert(at);
        if kill_after(&root, &a, Duration::from_micros(at)) {
            tally.finished_first += 1;
        }
        let out = root.join("out");
        let (dirs, files) = leftovers_in(&root);
        let staged = shard_values_below(&root);
        let shares = if out.exists() {
            assert_eq!(files_below(&out), expected, "kill {i} at {at} µs: partial");
            let v = verify_split(&root);
            assert_eq!(v.code, 0, "kill {i}: {}", v.stderr);
            tally.complete += 1;
            shares_of(&out)
        } else {
            tally.absent += 1;
            Vec::new()
        };
        // nothing holds the key, no file a share but its own
        scan_folder(&root, &shares);
        if !dirs.is_empty() {
            tally.leftovers += 1;
            tally.leftover_files += files.len();
        }
        // a rerun (no QR, --force) cleans up and says so
        let mut again = args("out");
        again.retain(|a| a != "--qr");
        again.push("--force".into());
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        let r = run_in(&root, &again);
        assert_eq!(r.code, 0, "rerun after kill {i}: {}", r.stderr);
        assert_eq!(
            r.stderr.contains(LEFTOVER_SAID),
            !dirs.is_empty(),
            "rerun after kill {i} (leftovers {dirs:?}): {}",
            r.stderr
        );
        if r.stderr.contains(LEFTOVER_SAID) {
            tally.reruns_said_so += 1;
        }
        let top: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(top, ["out"], "after the rerun of kill {i}");
        let fresh = shares_of(&out);
        scan_folder(&root, &fresh);
        let gone: Vec<[u8; 32]> = staged
            .into_iter()
            .filter(|v| !fresh.iter().any(|(_, f)| f == v))
            .collect();
        none_of(&root, &gone);
    }
    tally.report("split --qr");
    assert!(
        tally.complete > 0 && tally.absent > 0,
        "the kills span the run"
    );
    assert!(tally.leftovers > 0, "some kills fell inside the batch");
}

#[test]
fn reshare_killed_at_any_moment_leaves_no_ceremony_or_a_whole_one_and_the_old_one_working() {
    let _one = one_loop();
    let tmp = tempfile::tempdir().unwrap();
    let key = inputs(tmp.path()).join("key.hex");
    // ceremony A, 2-of-3 with QR sheets, copied into each kill's folder
    let src = tmp.path().join("a-src");
    let r = run_in(
        tmp.path(),
        &[
            "split",
            "--qr",
            "-t",
            "2",
            "-n",
            "3",
            "--key-file",
            key.to_str().unwrap(),
            "--out",
            "a-src",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let a_files = files_below(&src);
    let a_bytes: Vec<Vec<u8>> = a_files
        .iter()
        .map(|f| fs::read(src.join(f)).unwrap())
        .collect();
    let copy_a = |root: &Path| {
        fs::create_dir_all(root.join("a")).unwrap();
        for (f, b) in a_files.iter().zip(&a_bytes) {
            fs::write(root.join("a").join(f), b).unwrap();
        }
    };
    let args = |out: &'static str| -> Vec<&'static str> {
        vec![
            "reshare",
            "a/shard-1.json",
            "a/shard-3.png",
            "--record",
            "a/ceremony.json",
            "-t",
            "3",
            "-n",
            "5",
            "--qr",
            "--out",
            out,
        ]
    };
    let base = tmp.path().join("base");
    copy_a(&base);
    let full = timed(&base, &args("b"));
    let expected = files_below(&base.join("b"));
    assert_eq!(expected.len(), 2 + 5 * 4, "{expected:?}");

    let mut tally = Tally {
        full,
        ..Tally::default()
    };
    let mut shares_without_record = 0;
    // 20 kills over 1.5 times its unkilled length, then three at 2, 3 and 4
    // times it: under load a run takes longer than the timed one, and some
    // kills must find it finished. (It was 40 kills over 3 times the length,
    // two thirds of which found the run finished: a minute of the suite for
    // what the step test below checks more surely.)
    let mut points = kill_points(full, 20, 29);
    points.extend([2u32, 3, 4].map(|k| (full * k).as_micros() as u64));
    for (i, at) in points.into_iter().enumerate() {
        let root = tmp.path().join(format!("k{i}"));
        copy_a(&root);
        tally.kills += 1;
        tally.points.insert(at);
        if kill_after(&root, &args("b"), Duration::from_micros(at)) {
            tally.finished_first += 1;
        }
        // A untouched, and it still assembles
        for (f, b) in a_files.iter().zip(&a_bytes) {
            assert_eq!(
                &fs::read(root.join("a").join(f)).unwrap(),
                b,
                "kill {i}: a/{f} changed"
            );
        }
        let a = run_in(
            &root,
            &[
                "assemble",
                "a/ceremony.json",
                "a/shard-1.json",
                "a/shard-2.json",
                "--dry-run",
            ],
        );
        assert_eq!(a.code, 0, "kill {i}: A no longer assembles: {}", a.stderr);
        let b = root.join("b");
        if b.join("ceremony.json").exists() {
            // the record is written last: everything it declares is there and checks out
            assert_eq!(files_below(&b), expected, "kill {i} at {at} µs: partial B");
            let mut v = vec!["verify".to_string(), "b/ceremony.json".into()];
            v.extend((1..=5).map(|id| format!("b/shard-{id}.json")));
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            let r = run_in(&root, &v);
            assert_eq!(r.code, 0, "kill {i}: {}", r.stdout);
            let t = run_in(
                &root,
                &[
                    "ceremony",
                    "verify-transcript",
                    "b/transcript-reshare.jsonl",
                ],
            );
            assert_eq!(t.code, 0, "kill {i}: {}", t.stderr);
            tally.complete += 1;
        } else if b.exists() {
            // new shares (perhaps the segment), no record: no ceremony B, nothing retired
            let got = files_below(&b);
            assert!(
                got.iter().all(|f| expected.contains(f)),
                "kill {i}: {got:?}"
            );
            shares_without_record += 1;
            fs::remove_dir_all(&b).unwrap();
        } else {
            tally.absent += 1;
        }
        no_key_below(&root, None);
        let (dirs, files) = leftovers_in(&root);
        if !dirs.is_empty() {
            tally.leftovers += 1;
            tally.leftover_files += files.len();
        }
        // a rerun cleans up and says so, and gives a whole B
        let r = run_in(&root, &args("again"));
        assert_eq!(r.code, 0, "rerun after kill {i}: {}", r.stderr);
        if r.stderr.contains(LEFTOVER_SAID) {
            tally.reruns_said_so += 1;
        }
        assert_eq!(
            r.stderr.contains(LEFTOVER_SAID),
            !dirs.is_empty(),
            "rerun after kill {i} (leftovers {dirs:?}): {}",
            r.stderr
        );
        assert!(
            leftovers_in(&root).0.is_empty(),
            "after the rerun of kill {i}"
        );
        assert_eq!(files_below(&root.join("again")), expected);
    }
    tally.report("reshare --qr");
    eprintln!(
        "crash_safety: reshare --qr: {shares_without_record} kills left new shares without a record (no ceremony B)"
    );
    // Timed kills seldom land in the short windows between the new shares
    // and the record (2 of 40, or none, under load): they are only counted
    // here; reshare_killed_at_each_step_... kills at each of those steps.
    assert!(
        tally.complete > 0 && tally.absent > 0,
        "the kills span the run"
    );
}

/// Where a reshare into `root/b` stands on disk: 0 nothing yet, 1 the
/// staging folder of B's batch, 2 B's shares in place (folder renamed),
/// 3 the transcript segment, 4 B's record.
fn reshare_step(root: &Path) -> u8 {
    let b = root.join("b");
    if b.join("ceremony.json").exists() {
        4
    } else if b.join("transcript-reshare.jsonl").exists() {
        3
    } else if b.exists() {
        2
    } else if fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(STAGING))
        })
        .unwrap_or(false)
    {
        1
    } else {
        0
    }
}

/// Whether `pid` is stopped (or already gone), from /proc.
fn stopped(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'
        Ok(s) => matches!(
            s.rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next()),
            Some('T' | 't' | 'Z' | 'X') | None
        ),
        Err(_) => true,
    }
}

/// Runs `args` in `root`, polling every 100 µs for [`reshare_step`] to
/// reach `want`; then SIGSTOP (the disk stops changing), waits until the
/// process is stopped, reads the step it is frozen at, and SIGKILLs it.
/// Returns that step (None: the run ended before reaching `want`).
fn kill_at_step(root: &Path, args: &[&str], want: u8) -> Option<u8> {
    let mut child = Command::new(exe())
        .current_dir(root)
        .args(args)
        .env_remove("KEYCEREMONY_TEST_TOKENS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let frozen = loop {
        if reshare_step(root) >= want {
            // SAFETY: kill(2) on our own child, which has not been waited for.
            unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
            while !stopped(pid) {
                std::thread::sleep(Duration::from_micros(50));
            }
            break Some(reshare_step(root));
        }
        if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_micros(100));
    };
    let _ = child.kill(); // SIGKILL, stopped or not
    let _ = child.wait();
    frozen
}

/// What a reshare cut at a step left, as the person meets it.
#[derive(Default)]
struct StepTally {
    /// Attempts aimed at each step 1..=3, and those frozen exactly there.
    tries: [usize; 4],
    hits: [usize; 4],
    /// Attempts whose run had moved past the step by the time it stopped.
    overshot: [usize; 4],
}

#[test]
fn reshare_killed_at_each_step_leaves_a_working_and_no_ceremony_b_until_its_record() {
    let _one = one_loop();
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let key = inputs(tmp.path()).join("key.hex");
    let r = run_in(
        tmp.path(),
        &[
            "split",
            "--qr",
            "-t",
            "2",
            "-n",
            "3",
            "--key-file",
            key.to_str().unwrap(),
            "--out",
            "a-src",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let src = tmp.path().join("a-src");
    let a_files = files_below(&src);
    let a_bytes: Vec<Vec<u8>> = a_files
        .iter()
        .map(|f| fs::read(src.join(f)).unwrap())
        .collect();
    let copy_a = |root: &Path| {
        fs::create_dir_all(root.join("a")).unwrap();
        for (f, b) in a_files.iter().zip(&a_bytes) {
            fs::write(root.join("a").join(f), b).unwrap();
        }
    };
    let args = |out: &'static str| -> Vec<&'static str> {
        vec![
            "reshare",
            "a/shard-1.json",
            "a/shard-3.png",
            "--record",
            "a/ceremony.json",
            "-t",
            "3",
            "-n",
            "5",
            "--qr",
            "--out",
            out,
        ]
    };
    let a_still_works = |root: &Path, what: &str| {
        for (f, b) in a_files.iter().zip(&a_bytes) {
            assert_eq!(
                &fs::read(root.join("a").join(f)).unwrap(),
                b,
                "{what}: a/{f} changed"
            );
        }
        let a = run_in(
            root,
            &[
                "assemble",
                "a/ceremony.json",
                "a/shard-1.json",
                "a/shard-2.json",
                "--dry-run",
            ],
        );
        assert_eq!(a.code, 0, "{what}: A no longer assembles: {}", a.stderr);
    };

    // (4) run to the end: B whole, A's files untouched
    let base = tmp.path().join("base");
    copy_a(&base);
    let r = run_in(&base, &args("b"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(reshare_step(&base), 4);
    let expected = files_below(&base.join("b"));
    assert_eq!(expected.len(), 2 + 5 * 4, "{expected:?}");
    let shares_only: Vec<String> = expected
        .iter()
        .filter(|f| *f != "ceremony.json" && *f != "transcript-reshare.jsonl")
        .cloned()
        .collect();
    let mut v = vec!["verify".to_string(), "b/ceremony.json".into()];
    v.extend((1..=5).map(|id| format!("b/shard-{id}.json")));
    let v: Vec<&str> = v.iter().map(String::as_str).collect();
    let r = run_in(&base, &v);
    assert_eq!(r.code, 0, "B complete: {}", r.stdout);
    let t = run_in(
        &base,
        &[
            "ceremony",
            "verify-transcript",
            "b/transcript-reshare.jsonl",
        ],
    );
    assert_eq!(t.code, 0, "{}", t.stderr);
    a_still_works(&base, "after a whole reshare");
    no_key_below(&base, None);

    // (1) to (3): killed the moment the step appears on disk
    const MAX_TRIES: usize = 6;
    const HITS: usize = 2;
    let mut tally = StepTally::default();
    let mut fresh_done = [false; 5];
    let mut n = 0;
    for want in 1..=3u8 {
        let w = want as usize;
        while tally.hits[w] < HITS && tally.tries[w] < MAX_TRIES {
            n += 1;
            tally.tries[w] += 1;
            let root = tmp.path().join(format!("s{want}-{n}"));
            copy_a(&root);
            let Some(at) = kill_at_step(&root, &args("b"), want) else {
                panic!("step {want}, try {n}: the reshare ended without reaching the step");
            };
            let what = format!("step {want}, try {n} (frozen at step {at})");
            if at == want {
                tally.hits[w] += 1;
            } else {
                tally.overshot[w] += 1;
            }
            a_still_works(&root, &what);
            no_key_below(&root, None);
            let b = root.join("b");
            let leftovers = leftovers_in(&root).0;
            match at {
                1 => {
                    assert!(!b.exists(), "{what}");
                    assert!(!leftovers.is_empty(), "{what}: no staging folder");
                    // rerun into the same folder: the leftovers go, saying so; B whole
                    let r = run_in(&root, &args("b"));
                    assert_eq!(r.code, 0, "{what}: rerun: {}", r.stderr);
                    assert!(r.stderr.contains(LEFTOVER_SAID), "{what}: {}", r.stderr);
                    assert!(leftovers_in(&root).0.is_empty(), "{what}");
                    assert_eq!(files_below(&b), expected, "{what}");
                }
                2 | 3 => {
                    assert!(leftovers.is_empty(), "{what}: {leftovers:?}");
                    let mut want_files = shares_only.clone();
                    if at == 3 {
                        want_files.push("transcript-reshare.jsonl".into());
                        want_files.sort();
                    }
                    assert_eq!(files_below(&b), want_files, "{what}");
                    // not a ceremony: B's record is missing, and A's record disowns B's shares
                    let r = run_in(&root, &["verify", "b/ceremony.json", "b/shard-1.json"]);
                    assert_ne!(r.code, 0, "{what}");
                    assert!(
                        r.stdout
                            .contains("BAD  b/ceremony.json: cannot read: there is no such file"),
                        "{what}: {}",
                        r.stdout
                    );
                    let r = run_in(
                        &root,
                        &["verify", "--record", "a/ceremony.json", "b/shard-1.json"],
                    );
                    assert_ne!(r.code, 0, "{what}");
                    assert!(r.stdout.contains(NOT_RETIRED_SAID), "{what}: {}", r.stdout);
                    let r = run_in(
                        &root,
                        &[
                            "assemble",
                            "a/ceremony.json",
                            "b/shard-1.json",
                            "b/shard-2.json",
                            "b/shard-3.json",
                            "--dry-run",
                        ],
                    );
                    assert_ne!(r.code, 0, "{what}");
                    assert!(r.stderr.contains(NOT_RETIRED_SAID), "{what}: {}", r.stderr);
                    // a rerun into the same folder is refused, saying what it holds; nothing changes
                    let before: Vec<Vec<u8>> = files_below(&b)
                        .iter()
                        .map(|f| fs::read(b.join(f)).unwrap())
                        .collect();
                    let r = run_in(&root, &args("b"));
                    assert_eq!(r.code, 1, "{what}: rerun into b: {}", r.stderr);
                    assert!(r.stderr.contains(INTERRUPTED_SAID), "{what}: {}", r.stderr);
                    let after: Vec<Vec<u8>> = files_below(&b)
                        .iter()
                        .map(|f| fs::read(b.join(f)).unwrap())
                        .collect();
                    assert_eq!(before, after, "{what}: the refused rerun changed b");
                }
                _ => panic!("{what}: unexpected step"),
            }
            // a rerun into a fresh folder gives a whole B, A still working
            // (once per step reached: each rerun is a whole reshare)
            if std::mem::replace(&mut fresh_done[at as usize], true) {
                continue;
            }
            let r = run_in(&root, &args("fresh"));
            assert_eq!(r.code, 0, "{what}: rerun into a fresh folder: {}", r.stderr);
            assert!(!r.stderr.contains(LEFTOVER_SAID), "{what}: {}", r.stderr);
            assert_eq!(files_below(&root.join("fresh")), expected, "{what}");
            a_still_works(&root, &what);
            no_key_below(&root, None);
        }
    }
    eprintln!(
        "crash_safety: reshare --qr by step ({} ms in all): staging folder {}/{} tries killed there, \
         shares in place without a segment {}/{}, segment without a record {}/{} (overshot {}/{}/{}); \
         run to the end: B complete",
        started.elapsed().as_millis(),
        tally.hits[1], tally.tries[1], tally.hits[2], tally.tries[2], tally.hits[3], tally.tries[3],
        tally.overshot[1], tally.overshot[2], tally.overshot[3],
    );
    for want in 1..=3 {
        assert!(
            tally.hits[want] > 0,
            "step {want} was never caught: {} tries",
            tally.tries[want]
        );
    }
}

fn age_identity(dir: &Path) -> (PathBuf, String) {
    let identity = age::x25519::Identity::generate();
    let path = dir.join("age.key");
    fs::write(
        &path,
        format!(
            "{}\n",
            secrecy::ExposeSecret::expose_secret(&identity.to_string())
        ),
    )
    .unwrap();
    (path, identity.to_public().to_string())
}

/// Files a bundle carries besides the key: one large, many small.
fn payload(dir: &Path) -> PathBuf {
    let p = dir.join("payload");
    fs::create_dir_all(&p).unwrap();
    let big: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(p.join("big.bin"), big).unwrap();
    for i in 0..80 {
        fs::write(p.join(format!("note-{i}.txt")), format!("note {i}\n")).unwrap();
    }
    p
}

/// The key may sit only in `allowed` (a complete output's keys/root.key).
fn no_key_below(root: &Path, allowed: Option<&Path>) {
    let key = key_bytes();
    for f in files_below(root) {
        let p = root.join(&f);
        if Some(p.as_path()) == allowed {
            continue;
        }
        secret_scan::assert_clean(&f, &fs::read(&p).unwrap(), &[("root key", &key)]);
    }
}

#[test]
fn bundle_create_and_open_killed_at_any_moment_leave_whole_outputs_or_none() {
    let _one = one_loop();
    let tmp = tempfile::tempdir().unwrap();
    let inp = inputs(tmp.path());
    let key = inp.join("key.hex");
    let (id_file, recipient) = age_identity(&inp);
    payload(&inp);
    let (key, id_file) = (key.to_str().unwrap(), id_file.to_str().unwrap());
    // run in the inputs folder (an included path is relative), writing to `at`
    let create = |at: &Path| -> Vec<String> {
        [
            "bundle",
            "create",
            "--key-file",
            key,
            "--recipient",
            &recipient,
            "--include",
            "payload",
            "--out",
            at.join("root.tar.age").to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let strs = |v: &[String]| -> Vec<String> { v.to_vec() };
    let base = tmp.path().join("base");
    fs::create_dir(&base).unwrap();
    let c = strs(&create(&base));
    let full = timed(&inp, &c.iter().map(String::as_str).collect::<Vec<_>>());
    let bundle = base.join("root.tar.age");
    let bundle_s = bundle.to_str().unwrap().to_string();
    let open = [
        "bundle",
        "open",
        bundle_s.as_str(),
        "--identity",
        id_file,
        "--out",
        "out",
    ];
    let full_open = timed(&base, &open);
    let expected = files_below(&base.join("out"));
    assert!(
        expected.contains(&"keys/root.key".to_string()),
        "{expected:?}"
    );

    // bundle create: the bundle file is there whole, or not at all
    let mut tally = Tally {
        full,
        ..Tally::default()
    };
    for (i, at) in kill_points(full, 30, 5).into_iter().enumerate() {
        let root = tmp.path().join(format!("c{i}"));
        fs::create_dir(&root).unwrap();
        tally.kills += 1;
        tally.points.insert(at);
        let c = create(&root);
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        if kill_after(&inp, &c, Duration::from_micros(at)) {
            tally.finished_first += 1;
        }
        let (dirs, _) = leftovers_in(&root);
        let made = root.join("root.tar.age");
        if made.exists() {
            let v = run_in(
                &root,
                &["bundle", "verify", "root.tar.age", "--identity", id_file],
            );
            assert_eq!(v.code, 0, "kill {i} at {at} µs: {}", v.stderr);
            tally.complete += 1;
        } else {
            tally.absent += 1;
        }
        no_key_below(&root, None);
        if !dirs.is_empty() {
            tally.leftovers += 1;
        }
        let top: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "root.tar.age")
            .collect();
        assert!(
            top.iter().all(|n| n.starts_with(STAGING)),
            "kill {i}: {top:?}"
        );
    }
    tally.report("bundle create");
    assert!(
        tally.complete > 0 && tally.absent > 0,
        "the kills span the run"
    );

    // bundle open: the folder is there whole (same files, the right key), or not at all
    let mut tally = Tally {
        full: full_open,
        ..Tally::default()
    };
    for (i, at) in kill_points(full_open, 30, 11).into_iter().enumerate() {
        let root = tmp.path().join(format!("o{i}"));
        fs::create_dir(&root).unwrap();
        tally.kills += 1;
        tally.points.insert(at);
        if kill_after(&root, &open, Duration::from_micros(at)) {
            tally.finished_first += 1;
        }
        let (dirs, files) = leftovers_in(&root);
        let out = root.join("out");
        let root_key = out.join("keys/root.key");
        if out.exists() {
            assert_eq!(files_below(&out), expected, "kill {i} at {at} µs: partial");
            let k = fs::read_to_string(&root_key).unwrap();
            assert_eq!(k.trim(), KEY_HEX, "kill {i}");
            tally.complete += 1;
        } else {
            tally.absent += 1;
        }
        if !dirs.is_empty() {
            tally.leftovers += 1;
            tally.leftover_files += files.len();
        }
        // the key only in a complete output (or, staged, in a leftover the rerun scrubs)
        for f in files_below(&root) {
            let p = root.join(&f);
            if p == root_key || dirs.iter().any(|d| p.starts_with(d)) {
                continue;
            }
            secret_scan::assert_clean(&f, &fs::read(&p).unwrap(), &[("root key", &key_bytes())]);
        }
        // a rerun into another folder beside it cleans up and says so (run
        // without leftovers too, one in four, to see it stays quiet then)
        if dirs.is_empty() && i % 4 != 0 {
            continue;
        }
        let mut again = open;
        again[6] = "again";
        let r = run_in(&root, &again);
        assert_eq!(r.code, 0, "rerun after kill {i}: {}", r.stderr);
        assert_eq!(
            r.stderr.contains(LEFTOVER_SAID),
            !dirs.is_empty(),
            "rerun after kill {i}: {}",
            r.stderr
        );
        if r.stderr.contains(LEFTOVER_SAID) {
            tally.reruns_said_so += 1;
        }
        assert!(leftovers_in(&root).0.is_empty());
        let allowed: Vec<PathBuf> = vec![root_key.clone(), root.join("again/keys/root.key")];
        for f in files_below(&root) {
            let p = root.join(&f);
            if allowed.contains(&p) {
                continue;
            }
            secret_scan::assert_clean(&f, &fs::read(&p).unwrap(), &[("root key", &key_bytes())]);
        }
    }
    tally.report("bundle open");
    assert!(
        tally.complete > 0 && tally.absent > 0,
        "the kills span the run"
    );
    assert!(tally.leftovers > 0, "some kills fell inside the batch");
}

/// The files of each share in a complete ceremony output, by share id.
fn share_files(out: &Path) -> Vec<(u8, BTreeSet<String>)> {
    let mut by_id: Vec<(u8, BTreeSet<String>)> = Vec::new();
    for n in files_below(out) {
        let Some(rest) = n.strip_prefix("shard-") else {
            continue;
        };
        let id: u8 = rest.split('.').next().unwrap().parse().unwrap();
        match by_id.iter_mut().find(|(i, _)| *i == id) {
            Some((_, s)) => {
                s.insert(n.clone());
            }
            None => by_id.push((id, BTreeSet::from([n.clone()]))),
        }
    }
    by_id.sort();
    by_id
}

#[test]
fn ceremony_run_killed_at_any_moment_leaves_each_share_whole_or_absent() {
    let _one = one_loop();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let plan = ceremony_support::small_plan(dir, "rehearsal", SMALL_CUSTODIANS);
    fs::write(dir.join("pin.txt"), format!("{PIN}\n")).unwrap();
    let plan = plan.to_str().unwrap().to_string();
    let args = |out: &str| -> Vec<String> {
        [
            "ceremony",
            "run",
            plan.as_str(),
            "--out",
            out,
            "--yes",
            "--pin-file",
            "../pin.txt",
        ]
        .map(String::from)
        .to_vec()
    };
    let base = dir.join("base");
    fs::create_dir(&base).unwrap();
    let a = args("out");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let full = timed(&base, &a);
    let complete = share_files(&base.join("out"));
    assert_eq!(complete.len(), 3, "{complete:?}");

    let mut tally = Tally {
        full,
        ..Tally::default()
    };
    for (i, at) in kill_points(full, 30, 23).into_iter().enumerate() {
        let root = dir.join(format!("r{i}"));
        fs::create_dir(&root).unwrap();
        tally.kills += 1;
        tally.points.insert(at);
        if kill_after(&root, &a, Duration::from_micros(at)) {
            tally.finished_first += 1;
        }
        let out = root.join("out");
        if !out.exists() {
            tally.absent += 1;
            continue;
        }
        // each share's outputs: all of them or none; a kill between a
        // batch's journal and its last move is completed by the rerun
        let whole = |when: &str| {
            for (id, files) in share_files(&out) {
                let want = &complete.iter().find(|(i, _)| *i == id).unwrap().1;
                assert_eq!(
                    &files, want,
                    "kill {i} at {at} µs: share {id} partial {when}"
                );
            }
        };
        let (dirs, files) = leftovers_in(&out);
        let journalled = dirs.iter().any(|d| d.join("journal.json").exists());
        if journalled {
            tally.journalled += 1;
        } else {
            whole("after the kill");
        }
        if !dirs.is_empty() {
            tally.leftovers += 1;
            tally.leftover_files += files.len();
        }
        // the transcript reads back: completed, or cut off unsigned
        if out.join("transcript.jsonl").exists() {
            let v = run_in(
                &root,
                &["ceremony", "verify-transcript", "out/transcript.jsonl"],
            );
            assert!(
                v.code == 0 || v.stderr.contains("not signed"),
                "kill {i}: {}{}",
                v.stdout,
                v.stderr
            );
            if v.code == 0 {
                tally.complete += 1;
            }
        }
        // no file outside a leftover holds the key or a share not its own
        let known = ceremony_support::shares_in_outputs(&out, &out.join("test-tokens"));
        let shares = ceremony_support::all_shares(&known, 2, 3).unwrap_or_default();
        for e in fs::read_dir(&out).unwrap().flatten() {
            let p = e.path();
            if dirs.contains(&p) {
                continue;
            }
            if p.is_dir() {
                scan_folder(&p, &shares);
            }
        }
        let top = tempfile::tempdir_in(&root).unwrap();
        for e in fs::read_dir(&out).unwrap().flatten() {
            if e.path().is_file() {
                fs::copy(e.path(), top.path().join(e.file_name())).unwrap();
            }
        }
        scan_folder(top.path(), &shares);
        drop(top);
        // a rerun into the same folder removes the leftovers, says so, and refuses the folder
        if !dirs.is_empty() {
            let r = run_in(&root, &a);
            assert_ne!(r.code, 0, "kill {i}: a non-empty folder is refused");
            assert!(r.stderr.contains(LEFTOVER_SAID), "kill {i}: {}", r.stderr);
            tally.reruns_said_so += 1;
            assert!(leftovers_in(&out).0.is_empty());
        }
        whole("after the rerun");
    }
    tally.report("ceremony run");
    assert!(
        tally.absent + tally.complete < tally.kills,
        "some kills fell mid-run"
    );
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .stderr(Stdio::piped())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then(|| Mount(at.to_path_buf()))
    }

    fn remount(&self, options: &str) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_no_output_and_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = inputs(tmp.path());
    let key = inp.join("key.hex");
    let (id_file, recipient) = age_identity(&inp);
    payload(&inp);
    let bundle = inp.join("root.tar.age");
    let r = run_in(
        &inp,
        &[
            "bundle",
            "create",
            "--key-file",
            key.to_str().unwrap(),
            "--recipient",
            &recipient,
            "--include",
            "payload",
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut failures = 0;
    for (i, size) in ["8k", "24k", "48k", "96k", "160k", "256k"]
        .iter()
        .enumerate()
    {
        let at = tmp.path().join(format!("disk{i}"));
        let Some(_disk) = Mount::tmpfs(&at, &format!("size={size},mode=0700")) else {
            eprintln!(
                "\n*** SKIPPED a_full_disk_leaves_no_output_and_no_secret: cannot mount a tmpfs \
                 (needs root and mount permission) ***\n"
            );
            return;
        };
        let out = at.join("out");
        let split = run_in(
            &at,
            &[
                "split",
                "--qr",
                "-t",
                "2",
                "-n",
                "3",
                "--key-file",
                key.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        if split.code == 0 {
            assert_eq!(verify_split(&at).code, 0);
            scan_folder(&at, &shares_of(&out));
            fs::remove_dir_all(&out).unwrap();
        } else {
            failures += 1;
            assert!(
                split.stderr.contains("No space left") || split.stderr.contains("space"),
                "size {size}: {}",
                split.stderr
            );
            assert!(
                files_below(&at).is_empty() && fs::read_dir(&at).unwrap().next().is_none(),
                "size {size}: {:?}",
                files_below(&at)
            );
        }
        let open = run_in(
            &at,
            &[
                "bundle",
                "open",
                bundle.to_str().unwrap(),
                "--identity",
                id_file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_ne!(open.code, 0, "size {size}: the payload cannot fit");
        failures += 1;
        assert!(
            open.stderr.contains("space"),
            "size {size}: {}",
            open.stderr
        );
        assert!(
            fs::read_dir(&at).unwrap().next().is_none(),
            "size {size}: {:?}",
            files_below(&at)
        );
    }
    eprintln!(
        "crash_safety: full disk: {failures} runs failed for want of space, each leaving nothing"
    );
    assert!(failures > 6);
}

#[test]
fn a_read_only_output_folder_is_named_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let inp = inputs(tmp.path());
    let key = inp.join("key.hex");
    let at = tmp.path().join("ro");
    let root = unsafe_is_root();
    let _mount = if root {
        let Some(m) = Mount::tmpfs(&at, "size=1m,mode=0755") else {
            eprintln!(
                "\n*** SKIPPED a_read_only_output_folder_is_named_and_nothing_is_written: running as \
                 root (mode bits do not stop root) and cannot mount a read-only tmpfs ***\n"
            );
            return;
        };
        fs::create_dir(at.join("out")).unwrap();
        assert!(m.remount("ro"), "remount read-only");
        Some(m)
    } else {
        fs::create_dir_all(at.join("out")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(at.join("out"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(&at, fs::Permissions::from_mode(0o555)).unwrap();
        None
    };
    for out in ["out", "new"] {
        let r = run_in(
            &at,
            &[
                "split",
                "-t",
                "2",
                "-n",
                "3",
                "--key-file",
                key.to_str().unwrap(),
                "--out",
                out,
            ],
        );
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("error: {out}: ")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("Read-only file system") || r.stderr.contains("Permission denied"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(files_below(&at), Vec::<String>::new());
    let names: Vec<_> = fs::read_dir(&at)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["out"]);
    if !root {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&at, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn unsafe_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn split_force_removes_the_temporaries_of_an_older_killed_run_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let key = inputs(tmp.path()).join("key.hex");
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    // what a kill left before: a bare temporary beside the outputs, and one beside the folder
    let stale = out.join(".keyceremony-Ab12Cd.tmp");
    fs::write(
        &stale,
        fs::read(common::testdata("known-key/shard-1.json")).unwrap(),
    )
    .unwrap();
    let beside = tmp.path().join(".keyceremony-Ef34Gh.tmp");
    fs::write(&beside, "staged").unwrap();
    let r = run_in(
        tmp.path(),
        &[
            "split",
            "-t",
            "2",
            "-n",
            "3",
            "--key-file",
            key.to_str().unwrap(),
            "--out",
            "out",
            "--force",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for p in [&stale, &beside] {
        assert!(!p.exists(), "{} kept", p.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            r.stderr.contains(&name) && r.stderr.contains(LEFTOVER_SAID),
            "{}",
            r.stderr
        );
    }
    assert_eq!(
        files_below(&out),
        [
            "ceremony.json",
            "shard-1.json",
            "shard-2.json",
            "shard-3.json"
        ]
    );
}
