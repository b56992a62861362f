//! Reading the paths given to `verify` and `assemble`. Each file is told
//! apart by its content, not its name: a shard file or ceremony record
//! (JSON), a QR image (PNG/JPEG), a share sealed to a token (age, piv-p256)
//! or a passphrase-protected shard (age, scrypt).

use std::path::{Path, PathBuf};

use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::input_file::{self, Opened};
use crate::record::CeremonyRecord;
use crate::recovery::{Rejected, Rejection};
use crate::seal::{SealedWith, Unsealer};
use crate::shard::{self, JsonDocument, ShardError, ShardFile};

/// Settings that affect how inputs are opened (tokens, PINs, ...).
#[derive(Debug, Default, Clone)]
pub struct InputOptions {
    /// Software test tokens instead of hardware (test mode).
    pub test_tokens: Option<PathBuf>,
    // Unsealing options (issue 4)
    /// `--pin-file F`: the token PIN for sealed shares; None asks on the console.
    pub pin_file: Option<PathBuf>,
    /// `--last-pin-try`: allow spending a token's last PIN try.
    pub last_pin_try: bool,
    /// `--shard-passphrase-file F`: the passphrase of passphrase-protected
    /// shards (`.json.age`); None asks on the console.
    pub shard_passphrase_file: Option<PathBuf>,
}

impl InputOptions {
    /// The unsealer for one run with these options: one per run keeps each
    /// token's PIN session.
    pub fn unsealer(&self) -> Unsealer {
        Unsealer::new(
            crate::token::provider(self.test_tokens.as_deref()),
            crate::token::PinSource {
                pin_file: self.pin_file.clone(),
                last_pin_try: self.last_pin_try,
            },
        )
        .with_shard_passphrase_file(self.shard_passphrase_file.clone())
    }
}

/// What one input turned out to be.
#[derive(Debug)]
pub enum Item {
    Shard(Box<ShardFile>),
    Record(Box<CeremonyRecord>),
}

/// One item read from an input, with a name for messages: the path, plus
/// `#k` when one file held several (several QR codes in one image).
#[derive(Debug)]
pub struct Loaded {
    pub source: String,
    pub item: Item,
    /// For a sealed share: the token that opened it.
    pub sealed: Option<SealedWith>,
}

/// The kinds of content we recognise from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Png,
    Jpeg,
    Sealed,
    Spike,
    /// A UTF-8 byte-order mark: a JSON file saved by an editor that adds one.
    Bom,
    Unknown,
}

/// How many first bytes tell the kinds apart.
const SNIFF_LEN: usize = 64;

pub fn sniff(head: &[u8]) -> Kind {
    let trimmed = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &head[i..])
        .unwrap_or(&[]);
    if head.starts_with(crate::strict_json::BOM) {
        Kind::Bom
    } else if trimmed.starts_with(b"{") {
        Kind::Json
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Kind::Png
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Kind::Jpeg
    } else if head.starts_with(b"age-encryption.org/v1") {
        Kind::Sealed
    } else if head.starts_with(b"spike:") {
        Kind::Spike
    } else {
        Kind::Unknown
    }
}

/// What the inputs of `verify` and `assemble` are called in messages.
const WHAT: &str =
    "shard file, ceremony record, QR image, sealed share or passphrase-protected shard";

/// Reads one input path into the shards (or record) it holds, opening a
/// sealed share with `unsealer` (PIN on `console`, touch on `events`).
pub fn load_path(
    path: &Path,
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Vec<Loaded>> {
    let mut input = Opened::open(path, WHAT)?;
    let mut head = input.head(SNIFF_LEN)?.to_vec();
    let source = if input_file::is_stdin(path) {
        "standard input (-)".to_string()
    } else {
        path.display().to_string()
    };
    if !head.is_empty() && head.iter().all(u8::is_ascii_whitespace) {
        // blank so far: look further before calling it anything
        head = input.head(shard::MAX_JSON_LEN as usize + 1)?.to_vec();
        if head.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::input(
                path,
                "holds only blank space (spaces, tabs, line breaks); \
                 a shard file is a JSON document written by keyceremony split",
            ));
        }
    }
    match sniff(&head) {
        Kind::Json => {
            let bytes = input.read_all(shard::MAX_JSON_LEN)?;
            let document = shard::parse_document(&bytes).map_err(|source| Error::Shard {
                path: path.to_path_buf(),
                source,
            })?;
            let item = match document {
                JsonDocument::Shard(s) => Item::Shard(s),
                JsonDocument::Record(r) => Item::Record(r),
            };
            Ok(vec![Loaded {
                source,
                item,
                sealed: None,
            }])
        }
        Kind::Bom => Err(Error::Shard {
            path: path.to_path_buf(),
            source: ShardError::NotJson(crate::strict_json::JsonError::ByteOrderMark.to_string()),
        }),
        // QR images: every keyceremony code in the picture
        Kind::Png | Kind::Jpeg => {
            let bytes = input.read_all(crate::qr::decode::MAX_FILE_BYTES)?;
            let shards = crate::qr::shards_from_image_bytes(path, &bytes)?;
            let several = shards.len() > 1;
            Ok(shards
                .into_iter()
                .enumerate()
                .map(|(k, s)| Loaded {
                    source: if several {
                        format!("{source}#{}", k + 1)
                    } else {
                        source.clone()
                    },
                    item: Item::Shard(Box::new(s)),
                    sealed: None,
                })
                .collect())
        }
        // Sealed shares (issue 4) and passphrase-protected shards (issue 12)
        Kind::Sealed => {
            let bytes = input.read_all(crate::seal::MAX_SEALED_LEN as u64)?;
            if crate::passphrase_shard::is_passphrase_file(&bytes) {
                let file = unsealer.shard_passphrase_file().map(Path::to_path_buf);
                let shard =
                    crate::passphrase_shard::load(path, &bytes, file.as_deref(), console, events)?;
                return Ok(vec![Loaded {
                    source: format!("{source} (passphrase-protected)"),
                    item: Item::Shard(Box::new(shard)),
                    sealed: None,
                }]);
            }
            let (shard, with) = unsealer.unseal_shard(path, &bytes, console, events)?;
            Ok(vec![Loaded {
                // the path alone: who opened it is in `sealed` (`sealed_to` in JSON)
                source,
                item: Item::Shard(Box::new(shard)),
                sealed: Some(with),
            }])
        }
        Kind::Spike => Err(Error::input(
            path,
            "is a SPIKE recovery shard, not a keyceremony shard; re-split it with \
             `keyceremony split --from-spike FILE... --spike-threshold K`",
        )),
        Kind::Unknown if head.is_empty() => Err(Error::input(
            path,
            "empty file (0 bytes): it was cut short or never written; use another copy \
             of this share, or its printed sheet (a scan or photo, or `keyceremony assemble --type`)",
        )),
        Kind::Unknown if looks_like_age_identity(&head) => Err(Error::input(
            path,
            "is an age identity (a secret key), not a share: it opens bundles \
             (`keyceremony bundle open --identity FILE`); give the shard files, sealed \
             shares or QR images that `keyceremony split` made",
        )),
        Kind::Unknown => Err(Error::input(
            path,
            "not a shard file, ceremony record, QR image or sealed share; give the files \
             `keyceremony split` wrote (shard-<i>.json, shard-<i>.age, shard-<i>.json.age, ceremony.json) or a \
             scan or photo (PNG or JPEG) of a printed sheet",
        )),
    }
}

/// An age identity file (`age-keygen` output), by its first bytes.
fn looks_like_age_identity(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("AGE-SECRET-KEY-1")
            || l.starts_with("AGE-PLUGIN-")
            || l.starts_with("# public key: age1")
    })
}

/// Reads every path; what cannot be read becomes a named rejection rather
/// than stopping the others from being looked at.
pub fn load_all(
    paths: &[PathBuf],
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> (Vec<Loaded>, Vec<Rejected>) {
    let mut items = Vec::new();
    let mut failures = Vec::new();
    for p in paths {
        match load_path(p, unsealer, console, events) {
            Ok(mut got) => items.append(&mut got),
            Err(e) => failures.push(rejected(p, e)),
        }
    }
    (items, failures)
}

/// An input that failed on its own, named by its path.
pub fn rejected(path: &Path, e: Error) -> Rejected {
    Rejected {
        source: path.display().to_string(),
        reason: Rejection::Unreadable {
            path: path.to_path_buf(),
            error: std::sync::Arc::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"  \n{\"format\""), Kind::Json);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Kind::Png);
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Kind::Jpeg);
        assert_eq!(sniff(b"age-encryption.org/v1\n-> piv-p256"), Kind::Sealed);
        assert_eq!(sniff(b"spike:1:ab"), Kind::Spike);
        assert_eq!(sniff(b"hello"), Kind::Unknown);
        assert_eq!(sniff(b""), Kind::Unknown);
        assert_eq!(sniff(b"\xEF\xBB\xBF{}"), Kind::Bom);
    }
}
