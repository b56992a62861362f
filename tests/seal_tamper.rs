//! Invalid-input suite for sealed shares: every single flipped byte of the
//! fixed sealed share is refused, and the refusals say what is wrong.

mod common;

use std::path::Path;

use keyceremony::console::Console;
use keyceremony::events::{Discard, Event};
use keyceremony::seal::{SealError, SealedHeader, Unsealer};
use keyceremony::token::{soft::SoftProvider, PinSource};
use zeroize::Zeroizing;

struct Quiet;

impl Console for Quiet {
    fn read_secret(&mut self, _: &str) -> std::io::Result<Zeroizing<String>> {
        Err(std::io::Error::other("no terminal in tests"))
    }
    fn confirm(&mut self, _: &str) -> bool {
        false
    }
    fn read_line(&mut self, _: &str, _: usize) -> std::io::Result<Option<Zeroizing<String>>> {
        Ok(None)
    }
}

fn token_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::copy(
        common::testdata("sealed/tokens/token-20260001.json"),
        tokens.join("token-20260001.json"),
    )
    .unwrap();
    let pin = tmp.path().join("pin");
    std::fs::write(&pin, "123456\n").unwrap();
    (tmp, pin)
}

#[test]
fn every_flipped_byte_is_refused() {
    let (tmp, pin) = token_copy();
    let original = std::fs::read(common::testdata("sealed/shard-1.age")).unwrap();
    let mut console = Quiet;
    let mut unsealer = Unsealer::new(
        Box::new(SoftProvider::new(&tmp.path().join("tokens"))),
        PinSource {
            pin_file: Some(pin),
            last_pin_try: false,
        },
    );
    let path = Path::new("shard-1.age");
    // The untouched file opens.
    let (shard, with) = unsealer
        .unseal_shard(path, &original, &mut console, &mut Discard)
        .unwrap();
    let label = with.token;
    assert_eq!(shard.share.id().get(), 1);
    assert!(label.contains("TEST TOKEN"));
    let mut refused = 0;
    for i in 0..original.len() {
        for mask in [0x01u8, 0x80] {
            let mut damaged = original.clone();
            damaged[i] ^= mask;
            match unsealer.unseal_shard(path, &damaged, &mut console, &mut Discard) {
                Ok(_) => panic!("byte {i} flipped with {mask:#04x} still opens"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("shard-1.age: "), "{msg}");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(refused, 2 * original.len());
    // No PIN try was spent on any of them.
    let mut t = SoftProvider::new(&tmp.path().join("tokens"))
        .open_soft(20260001)
        .unwrap();
    use keyceremony::token::Token;
    assert_eq!(t.pin_tries_left().unwrap(), 3);
}

#[test]
fn truncated_files_are_refused() {
    let (tmp, pin) = token_copy();
    let original = std::fs::read(common::testdata("sealed/shard-1.age")).unwrap();
    let mut console = Quiet;
    let mut unsealer = Unsealer::new(
        Box::new(SoftProvider::new(&tmp.path().join("tokens"))),
        PinSource {
            pin_file: Some(pin),
            last_pin_try: false,
        },
    );
    for len in [0, 10, 22, 60, 200, original.len() - 17, original.len() - 1] {
        assert!(
            unsealer
                .unseal_shard(
                    Path::new("x.age"),
                    &original[..len],
                    &mut console,
                    &mut Discard
                )
                .is_err(),
            "truncated to {len} bytes still opens"
        );
    }
    let mut longer = original.clone();
    longer.push(b'\n');
    assert!(unsealer
        .unseal_shard(Path::new("x.age"), &longer, &mut console, &mut Discard)
        .is_err());
}

#[test]
fn header_damage_is_told_apart() {
    let original = std::fs::read(common::testdata("sealed/shard-1.age")).unwrap();
    let text = String::from_utf8_lossy(&original).into_owned();
    // Not age at all.
    assert_eq!(
        SealedHeader::parse(b"{\"format\":1}").unwrap_err(),
        SealError::NotAge
    );
    // Ephemeral key not on the curve.
    let line = text.lines().nth(1).unwrap();
    let mut parts: Vec<&str> = line.split(' ').collect();
    let bad_epk = format!("A{}", &"A".repeat(43));
    parts[3] = &bad_epk;
    let damaged = text.replacen(line, &parts.join(" "), 1);
    assert!(matches!(
        SealedHeader::parse(damaged.as_bytes()).unwrap_err(),
        SealError::BadStanza(_)
    ));
    // A second real recipient is refused: someone else could open the share.
    let stanza: Vec<&str> = text.lines().skip(1).take(2).collect();
    let x25519 = "-> X25519 TEi3n7pUxdx9QXzx1hmXv9xqSqEO5tiK38Nwzt1pN2c\nGfQ9DwEjnMFQR2g8gsbP3AxFaHn+4z21Xt2iTbqc4nk\n";
    let two = text.replacen(
        &format!("{}\n{}\n", stanza[0], stanza[1]),
        &format!("{}\n{}\n{x25519}", stanza[0], stanza[1]),
        1,
    );
    assert_eq!(
        SealedHeader::parse(two.as_bytes()).unwrap_err(),
        SealError::StanzaCount(2)
    );
}

struct Counting {
    asked: usize,
    lines: Vec<String>,
}

impl Console for Counting {
    fn read_secret(&mut self, _: &str) -> std::io::Result<Zeroizing<String>> {
        self.asked += 1;
        Ok(Zeroizing::new("123456".into()))
    }
    fn confirm(&mut self, _: &str) -> bool {
        false
    }
    fn read_line(&mut self, _: &str, _: usize) -> std::io::Result<Option<Zeroizing<String>>> {
        Ok(None)
    }
}

fn pin_prompts_for(policy: &str) -> (usize, Vec<String>) {
    let (tmp, _) = token_copy();
    let state = tmp.path().join("tokens/token-20260001.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    v["slots"][0]["pin_policy"] = policy.into();
    std::fs::write(&state, serde_json::to_string(&v).unwrap()).unwrap();
    let recipient = keyceremony::seal::PivRecipient::parse(
        &std::fs::read_to_string(common::testdata("sealed/recipient.txt")).unwrap(),
    )
    .unwrap();
    let mut files = Vec::new();
    for i in 1..=3 {
        let json = std::fs::read(common::testdata(&format!("known-key/shard-{i}.json"))).unwrap();
        files.push(keyceremony::seal::seal_bytes(&recipient, &json).unwrap());
    }
    let mut console = Counting {
        asked: 0,
        lines: Vec::new(),
    };
    let mut events: Vec<Event> = Vec::new();
    {
        let mut unsealer = Unsealer::new(
            Box::new(SoftProvider::new(&tmp.path().join("tokens"))),
            PinSource::default(),
        );
        for f in &files {
            unsealer
                .unseal_shard(Path::new("s.age"), f, &mut console, &mut events)
                .unwrap();
        }
    }
    // What the command line would print for each event
    console.lines = events.iter().map(|e| e.to_string()).collect();
    (console.asked, console.lines)
}

#[test]
fn pin_is_asked_as_the_slot_policy_says() {
    assert_eq!(pin_prompts_for("once").0, 1);
    assert_eq!(pin_prompts_for("always").0, 3);
    let (asked, lines) = pin_prompts_for("never");
    assert_eq!(asked, 0);
    // Touch policy "always": one prompt per share, each naming the test token.
    let touches: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("touch your YubiKey now"))
        .collect();
    assert_eq!(touches.len(), 3);
    assert!(touches.iter().all(|l| l.contains("TEST TOKEN 20260001")));
}
