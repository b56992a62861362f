//! End to end through the keyceremony binary and its real YubiKey backend
//! (no test-token mode), with pivsim as the YubiKey behind the real pcscd:
//! token list / init / status, split --seal-to, assemble with the PIN, PIN
//! lockout and PUK unblock, a touch that never comes, a card pulled out
//! mid-operation, and two tokens one after the other.
//!
//! Run with `scripts/with-virtual-card.sh cargo test --test virtual_card_cli`;
//! without pcscd and vpcd these tests print SKIPPED (and fail under CI).

mod pivsim_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use pivsim_support::{reader, CardOptions, VirtualCard};

const KEY_HEX: &str = "7d1c9b1e0f4a3b2c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";

struct Run {
    ok: bool,
    out: String,
}

/// A scratch folder with PIN/PUK files and the key to split.
struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Desk {
        let desk = Desk {
            dir: tempfile::tempdir().unwrap(),
        };
        desk.write("pin", "123456\n");
        desk.write("key", &format!("{KEY_HEX}\n"));
        desk
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Runs keyceremony in this folder against the real PC/SC backend.
    fn kc(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_keyceremony"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("KEYCEREMONY_TEST_TOKENS")
            .output()
            .expect("run keyceremony");
        Run {
            ok: out.status.success(),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    fn card(&self, serial: u32) -> CardOptions {
        let mut o = CardOptions::serial(serial);
        o.state = Some(self.path(&format!("card-{serial}.json")));
        o
    }

    fn start(&self, options: CardOptions) -> VirtualCard {
        VirtualCard::start(options, self.dir.path())
    }

    fn init(&self, serial: u32) {
        let r = self.kc(&[
            "token",
            "init",
            "--serial",
            &serial.to_string(),
            "--pin-file",
            "pin",
        ]);
        assert!(r.ok, "token init: {}", r.out);
    }

    /// The age1yubikey1... recipient of the token's key.
    fn recipient(&self, serial: u32) -> String {
        let r = self.kc(&["token", "recipient", "--serial", &serial.to_string()]);
        assert!(r.ok, "token recipient: {}", r.out);
        r.out
            .split_whitespace()
            .find(|w| w.starts_with("age1yubikey1"))
            .unwrap_or_else(|| panic!("no recipient in: {}", r.out))
            .to_string()
    }
}

fn assert_key_file(path: &Path) {
    let text = std::fs::read_to_string(path).expect("key file written");
    assert_eq!(text.trim(), KEY_HEX);
}

#[test]
fn list_init_split_sealed_and_assemble_through_the_card() {
    let Some(_reader) = reader("list_init_split_sealed_and_assemble_through_the_card") else {
        return;
    };
    let desk = Desk::new();
    let card = desk.start(desk.card(41_000_001));

    let r = desk.kc(&["token", "list"]);
    assert!(r.ok && r.out.contains("41000001"), "token list: {}", r.out);

    desk.init(41_000_001);
    let r = desk.kc(&["token", "status", "--serial", "41000001"]);
    assert!(r.ok, "{}", r.out);
    assert!(r.out.contains("PIN tries left: 3"), "{}", r.out);
    assert!(r.out.contains("P-256 key"), "{}", r.out);

    let r = desk.kc(&[
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--key-file",
        "key",
        "--out",
        "shards",
        "--seal-to",
        "41000001",
    ]);
    assert!(r.ok, "split: {}", r.out);
    assert!(desk.path("shards/shard-1.age").exists());

    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--key-out",
        "recovered",
        "shards/shard-1.age",
        "shards/shard-2.json",
    ]);
    assert!(r.ok, "assemble: {}", r.out);
    assert_key_file(&desk.path("recovered"));
    let log = card.log_text();
    assert!(
        log.contains("ECDH done"),
        "the share was opened on the card: {log}"
    );
    assert!(log.contains("touch requested: given"), "{log}");
}

#[test]
fn wrong_pin_counts_down_to_lockout_and_the_puk_unblocks_through_the_cli() {
    let Some(_reader) =
        reader("wrong_pin_counts_down_to_lockout_and_the_puk_unblocks_through_the_cli")
    else {
        return;
    };
    let desk = Desk::new();
    let _card = desk.start(desk.card(41_000_002));
    desk.init(41_000_002);
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
        "41000002",
    ]);
    assert!(r.ok, "split: {}", r.out);
    desk.write("wrong", "654321\n");
    let assemble = |pin: &str, extra: &[&str]| {
        let mut args = vec!["assemble", "--pin-file", pin, "--dry-run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["shards/shard-1.age", "shards/shard-2.json"]);
        desk.kc(&args)
    };

    let r = assemble("wrong", &[]);
    assert!(
        !r.ok && r.out.contains("wrong PIN") && r.out.contains("2 tries left"),
        "{}",
        r.out
    );
    let r = assemble("wrong", &[]);
    assert!(!r.ok && r.out.contains("1 try left"), "{}", r.out);
    // The last try is only spent when asked for.
    let r = assemble("wrong", &[]);
    assert!(!r.ok && r.out.contains("ONE PIN try left"), "{}", r.out);
    let r = assemble("wrong", &["--last-pin-try"]);
    assert!(!r.ok, "{}", r.out);
    let r = assemble("pin", &[]);
    assert!(
        !r.ok && r.out.contains("blocked"),
        "right PIN on a blocked card: {}",
        r.out
    );
    let r = desk.kc(&["token", "status", "--serial", "41000002"]);
    assert!(r.out.contains("PIN tries left: 0"), "{}", r.out);

    desk.write("puk", "12345678\n");
    desk.write("newpin", "24681357\n");
    desk.write("badpuk", "87654321\n");
    let r = desk.kc(&[
        "token",
        "unblock",
        "--serial",
        "41000002",
        "--puk-file",
        "badpuk",
        "--new-pin-file",
        "newpin",
    ]);
    assert!(!r.ok && r.out.contains("wrong PUK"), "{}", r.out);
    let r = desk.kc(&[
        "token",
        "unblock",
        "--serial",
        "41000002",
        "--puk-file",
        "puk",
        "--new-pin-file",
        "newpin",
    ]);
    assert!(r.ok, "unblock: {}", r.out);
    let r = assemble("newpin", &[]);
    assert!(r.ok, "assemble with the new PIN: {}", r.out);
}

#[test]
fn a_touch_that_never_comes_says_so() {
    let Some(_reader) = reader("a_touch_that_never_comes_says_so") else {
        return;
    };
    let desk = Desk::new();
    let card = desk.start(desk.card(41_000_003));
    desk.init(41_000_003);
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
        "41000003",
    ]);
    assert!(r.ok, "split: {}", r.out);
    card.remove();

    // The same card, now held by someone who never touches it.
    let mut options = desk.card(41_000_003);
    options.touch_never_ms = Some(1000);
    let card = desk.start(options);
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--key-out",
        "recovered",
        "shards/shard-1.age",
        "shards/shard-2.json",
    ]);
    assert!(!r.ok, "{}", r.out);
    assert!(r.out.contains("touch was not given"), "{}", r.out);
    assert!(!desk.path("recovered").exists(), "nothing written");
    assert!(card.log_text().contains("never given"));
}

#[test]
fn a_card_pulled_out_mid_operation_fails_cleanly() {
    let Some(_reader) = reader("a_card_pulled_out_mid_operation_fails_cleanly") else {
        return;
    };
    let desk = Desk::new();
    let card = desk.start(desk.card(41_000_004));
    desk.init(41_000_004);
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
        "41000004",
    ]);
    assert!(r.ok, "split: {}", r.out);
    card.remove();

    // Pulled out when the ECDH command (GENERAL AUTHENTICATE, P-256) arrives.
    let mut options = desk.card(41_000_004);
    options.remove_on_ins = Some("87:11".into());
    let card = desk.start(options);
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--key-out",
        "recovered",
        "shards/shard-1.age",
        "shards/shard-2.json",
    ]);
    assert!(!r.ok, "{}", r.out);
    assert!(
        r.out.contains("YubiKey 41000004") && r.out.contains("was removed during the operation"),
        "the error names the token and says it was removed: {}",
        r.out
    );
    assert!(!desk.path("recovered").exists(), "nothing written");
    assert!(
        card.log_text().contains("removed at command"),
        "{}",
        card.log_text()
    );
    drop(card);

    // Plugged back in, the same card opens the share.
    let _card = desk.start(desk.card(41_000_004));
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--key-out",
        "recovered",
        "shards/shard-1.age",
        "shards/shard-2.json",
    ]);
    assert!(r.ok, "{}", r.out);
    assert_key_file(&desk.path("recovered"));
}

#[test]
fn two_tokens_one_after_the_other() {
    let Some(_reader) = reader("two_tokens_one_after_the_other") else {
        return;
    };
    let desk = Desk::new();
    let a = desk.start(desk.card(41_000_005));
    desk.init(41_000_005);
    let recipient_a = desk.recipient(41_000_005);
    a.remove();
    let b = desk.start(desk.card(41_000_006));
    let r = desk.kc(&["token", "list"]);
    assert!(
        r.out.contains("41000006") && !r.out.contains("41000005"),
        "{}",
        r.out
    );
    desk.init(41_000_006);
    let recipient_b = desk.recipient(41_000_006);
    assert_ne!(recipient_a, recipient_b);

    // Share 1 to A, share 2 to B (neither card needs to be present), share 3 plain.
    let r = desk.kc(&[
        "split",
        "-t",
        "2",
        "-n",
        "3",
        "--key-file",
        "key",
        "--out",
        "shards",
        "--seal-to-recipient",
        &recipient_a,
        "--seal-to-recipient",
        &recipient_b,
    ]);
    assert!(r.ok, "split: {}", r.out);

    // B is in: A's share does not open, B's does.
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--dry-run",
        "shards/shard-1.age",
        "shards/shard-3.json",
    ]);
    assert!(!r.ok, "{}", r.out);
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--dry-run",
        "shards/shard-2.age",
        "shards/shard-3.json",
    ]);
    assert!(r.ok, "B opens its share: {}", r.out);
    b.remove();

    // A is back in: its share opens.
    let _a = desk.start(desk.card(41_000_005));
    let r = desk.kc(&[
        "assemble",
        "--pin-file",
        "pin",
        "--key-out",
        "recovered",
        "shards/shard-1.age",
        "shards/shard-3.json",
    ]);
    assert!(r.ok, "A opens its share: {}", r.out);
    assert_key_file(&desk.path("recovered"));
}
