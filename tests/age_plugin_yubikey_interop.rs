//! Interop with the real age-plugin-yubikey (crates.io 0.5.1) and Debian's
//! Go `age`, against a pivsim card behind the real pcscd, in both directions:
//!
//! (a) a share sealed by `keyceremony split --seal-to SERIAL` opens with
//!     `age -d -i <age-plugin-yubikey identity stub>` (the PIN typed on a
//!     terminal, as Go age asks for it), and what comes out is the shard;
//! (b) a shard file sealed with `age -r age1yubikey1...` (the plugin as
//!     recipient) opens with `keyceremony verify` and `keyceremony assemble`.
//!
//! Needs `scripts/with-virtual-card.sh` (pcscd + vpcd), `age`, `script`
//! (a pty) and the plugin, which `scripts/ensure-age-plugin-yubikey.sh`
//! installs (scripts/test.sh runs it and exports
//! KEYCEREMONY_AGE_PLUGIN_YUBIKEY, the folder holding the binary). Without
//! them the test prints SKIPPED, unless KEYCEREMONY_REQUIRE_INTEROP=1,
//! KEYCEREMONY_VIRTUAL_CARD=1 or CI=true say it must run: then it fails.

mod common;
mod pivsim_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::prelude::{Engine, BASE64_STANDARD_NO_PAD};
use keyceremony::shard::ShardFile;
use pivsim_support::{reader, CardOptions, VirtualCard};

const PLUGIN: &str = "age-plugin-yubikey";
const PLUGIN_VERSION: &str = "0.5.1";
const KEY_HEX: &str = "3b9f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
const SERIAL: u32 = 41_000_777;
/// Retired slot 1 (age-plugin-yubikey's numbering), where `token init` puts the first key.
const SLOT: u8 = 0x82;

fn must_run() -> bool {
    ["KEYCEREMONY_REQUIRE_INTEROP", "KEYCEREMONY_VIRTUAL_CARD"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| v == "1"))
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

fn skip_or_fail(why: &str) {
    if must_run() {
        panic!("age-plugin-yubikey interop must run here but {why}; run scripts/ensure-age-plugin-yubikey.sh");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED age-plugin-yubikey interop: {why}. Run scripts/test.sh, or \
         scripts/with-virtual-card.sh cargo test --test age_plugin_yubikey_interop after \
         scripts/ensure-age-plugin-yubikey.sh"
    );
}

/// The folder holding the plugin: KEYCEREMONY_AGE_PLUGIN_YUBIKEY, else where
/// the ensure script installs it by default, else PATH.
fn plugin_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("KEYCEREMONY_AGE_PLUGIN_YUBIKEY") {
        candidates.push(PathBuf::from(d));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(c) = cache {
        candidates.push(c.join(format!("keyceremony/tools/{PLUGIN}-{PLUGIN_VERSION}/bin")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.into_iter().find(|d| d.join(PLUGIN).is_file())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

struct Desk {
    dir: tempfile::TempDir,
    /// PATH with the plugin's folder first, for age.
    path_env: PathBuf,
}

struct Run {
    ok: bool,
    out: String,
}

impl Desk {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, program: &Path, args: &[&str]) -> Run {
        let out = Command::new(program)
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", &self.path_env)
            .env_remove("KEYCEREMONY_TEST_TOKENS")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        Run {
            ok: out.status.success(),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    fn kc(&self, args: &[&str]) -> Run {
        self.run(Path::new(env!("CARGO_BIN_EXE_keyceremony")), args)
    }
}

/// The recipient stanzas (`-> TYPE ARGS...`) of an age file's header.
fn stanzas(file: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .take_while(|l| !l.starts_with("---"))
        .filter_map(|l| l.strip_prefix("-> "))
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

/// An age-plugin-yubikey identity stub: Bech32, HRP `age-plugin-yubikey-`,
/// over serial (u32 little-endian) || slot || the stanza's 4-byte key tag,
/// written upper-case, as `age-plugin-yubikey --identity` prints it.
fn identity_stub(serial: u32, slot: u8, tag: &[u8; 4]) -> String {
    let mut data = serial.to_le_bytes().to_vec();
    data.push(slot);
    data.extend_from_slice(tag);
    let hrp = bech32::Hrp::parse("age-plugin-yubikey-").unwrap();
    bech32::encode::<bech32::Bech32>(hrp, &data)
        .unwrap()
        .to_uppercase()
}

fn assert_key(path: &Path) {
    let text = std::fs::read_to_string(path).expect("key file written");
    assert_eq!(text.trim(), KEY_HEX);
}

#[test]
fn keyceremony_and_age_with_age_plugin_yubikey_open_each_others_sealed_shares() {
    let Some(_reader) = reader("age_plugin_yubikey_interop") else {
        return;
    };
    let Some(plugin) = plugin_dir() else {
        return skip_or_fail(&format!("{PLUGIN} {PLUGIN_VERSION} is not installed"));
    };
    let Some(age) = which("age") else {
        return skip_or_fail("Debian's age is not installed");
    };
    if !common::have_script() {
        return skip_or_fail(
            "`script` (util-linux) is missing, so there is no terminal for the PIN",
        );
    }
    let mut path_env = vec![plugin.clone()];
    path_env.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let desk = Desk {
        dir: tempfile::tempdir().unwrap(),
        path_env: std::env::join_paths(path_env).unwrap().into(),
    };
    let plugin_bin = plugin.join(PLUGIN);
    let r = desk.run(&plugin_bin, &["--version"]);
    assert!(
        r.ok && r.out.trim() == format!("{PLUGIN} {PLUGIN_VERSION}"),
        "{}",
        r.out
    );

    desk.write("pin", "123456\n");
    desk.write("key", &format!("{KEY_HEX}\n"));
    let mut card = CardOptions::serial(SERIAL);
    card.state = Some(desk.path("card.json"));
    let card = VirtualCard::start(card, desk.dir.path());

    let r = desk.kc(&[
        "token",
        "init",
        "--serial",
        &SERIAL.to_string(),
        "--pin-file",
        "pin",
    ]);
    assert!(r.ok, "token init: {}", r.out);
    let r = desk.kc(&["token", "recipient", "--serial", &SERIAL.to_string()]);
    assert!(r.ok, "token recipient: {}", r.out);
    let recipient = r
        .out
        .split_whitespace()
        .find(|w| w.starts_with("age1yubikey1"))
        .unwrap_or_else(|| panic!("no recipient in: {}", r.out))
        .to_string();

    // The plugin finds the key keyceremony made, with the same recipient.
    let r = desk.run(&plugin_bin, &["--list-all"]);
    assert!(r.ok, "{PLUGIN} --list-all: {}", r.out);
    assert!(
        r.out.contains(&recipient),
        "{PLUGIN} --list-all does not show {recipient}: {}",
        r.out
    );

    let r = desk.kc(&[
        "split",
        "-t",
        "2",
        "-n",
        "2",
        "--key-file",
        "key",
        "--out",
        "shards",
        "--seal-to",
        &SERIAL.to_string(),
    ]);
    assert!(r.ok, "split: {}", r.out);
    let sealed = desk.path("shards/shard-1.age");

    // (a) keyceremony -> age + age-plugin-yubikey.
    let piv: Vec<Vec<String>> = stanzas(&sealed)
        .into_iter()
        .filter(|s| s[0] == "piv-p256")
        .collect();
    assert_eq!(piv.len(), 1, "one piv-p256 stanza in {}", sealed.display());
    let tag: [u8; 4] = BASE64_STANDARD_NO_PAD
        .decode(&piv[0][1])
        .unwrap()
        .try_into()
        .unwrap();
    desk.write(
        "identity.txt",
        &format!("{}\n", identity_stub(SERIAL, SLOT, &tag)),
    );
    let opened = desk.path("opened-1.json");
    let log_before = card.log_text().len();
    let (code, shown) = common::program_on_terminal(
        &age,
        &[
            "-d",
            "-i",
            desk.path("identity.txt").to_str().unwrap(),
            "-o",
            opened.to_str().unwrap(),
            sealed.to_str().unwrap(),
        ],
        &[("PATH", &desk.path_env)],
        &[(
            &format!("Enter PIN for YubiKey with serial {SERIAL}"),
            "123456",
        )],
    );
    assert_eq!(code, 0, "age -d with {PLUGIN} failed: {shown}");
    assert!(!shown.contains("123456"), "the PIN was echoed: {shown}");
    // The plugin itself opened it on the card: PIN, touch, ECDH.
    let during_age = card.log_text()[log_before..].to_string();
    for event in ["PIN verified", "touch requested: given", "ECDH done"] {
        assert_eq!(
            during_age.matches(event).count(),
            1,
            "{event} during age -d: {during_age}"
        );
    }
    let shard = ShardFile::parse(&std::fs::read(&opened).unwrap())
        .expect("age + the plugin give back the shard file");
    assert_eq!(shard.share.id().get(), 1);
    let r = desk.kc(&["verify", "opened-1.json", "shards/ceremony.json"]);
    assert!(r.ok, "verify of the share age opened: {}", r.out);
    let r = desk.kc(&[
        "assemble",
        "--key-out",
        "key-a",
        "opened-1.json",
        "shards/shard-2.json",
    ]);
    assert!(r.ok, "assemble from the share age opened: {}", r.out);
    assert_key(&desk.path("key-a"));

    // (b) age + age-plugin-yubikey -> keyceremony.
    let r = desk.run(
        &age,
        &["-r", &recipient, "-o", "shard-2.age", "shards/shard-2.json"],
    );
    assert!(r.ok, "age -r {recipient}: {}", r.out);
    let kinds: Vec<String> = stanzas(&desk.path("shard-2.age"))
        .into_iter()
        .map(|s| s[0].clone())
        .collect();
    assert!(kinds.iter().any(|k| k == "piv-p256"), "age wrote {kinds:?}");
    let r = desk.kc(&[
        "verify",
        "--pin-file",
        "pin",
        "shard-2.age",
        "shards/ceremony.json",
    ]);
    assert!(r.ok, "verify of the share age sealed: {}", r.out);
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--key-out",
        "key-b",
        "shards/shard-1.age",
        "shard-2.age",
    ]);
    assert!(r.ok, "assemble from the share age sealed: {}", r.out);
    assert_key(&desk.path("key-b"));

    let log = card.log_text();
    assert!(
        log.matches("ECDH done").count() >= 4,
        "every opening ran its ECDH on the card: {log}"
    );
}
