//! Reading the paths given to `verify` and `assemble`. Each file is told
//! apart by its content, not its name: a shard file or ceremony record
//! (JSON), a QR image (PNG/JPEG), or a share sealed to a token (age).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::console::Console;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::record::CeremonyRecord;
use crate::recovery::{Rejected, Rejection};
use crate::seal::{SealedWith, Unsealer};
use crate::shard::{self, JsonDocument, ShardFile};

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
    Unknown,
}

pub fn sniff(head: &[u8]) -> Kind {
    let trimmed = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &head[i..])
        .unwrap_or(&[]);
    if trimmed.starts_with(b"{") {
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

fn read_head(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, "cannot read", e))?;
    if meta.is_dir() {
        return Err(Error::input(
            path,
            "is a folder; name the files in it (for example DIR/shard-*.json)",
        ));
    }
    let mut f = File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let mut head = vec![0u8; 64];
    let mut got = 0;
    while got < head.len() {
        let n = f
            .read(&mut head[got..])
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    head.truncate(got);
    Ok(head)
}

/// Reads a whole file of at most `limit` bytes into zeroizing memory.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let f = File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, "cannot read", e))?;
    if buf.len() as u64 > limit {
        return Err(Error::input(
            path,
            format!("larger than any {what} ({limit} bytes at most)"),
        ));
    }
    Ok(buf)
}

/// Reads one input path into the shards (or record) it holds, opening a
/// sealed share with `unsealer` (PIN on `console`, touch on `events`).
pub fn load_path(
    path: &Path,
    unsealer: &mut Unsealer,
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<Vec<Loaded>> {
    let head = read_head(path)?;
    let source = path.display().to_string();
    match sniff(&head) {
        Kind::Json => {
            let bytes = read_bounded(path, shard::MAX_JSON_LEN, "shard file or ceremony record")?;
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
        // QR images: every keyceremony code in the picture
        Kind::Png | Kind::Jpeg => {
            let shards = crate::qr::shards_from_image(path)?;
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
        // Sealed shares (issue 4)
        Kind::Sealed => {
            let bytes = read_bounded(path, crate::seal::MAX_SEALED_LEN as u64, "sealed share")?;
            let (shard, with) = unsealer.unseal_shard(path, &bytes, console, events)?;
            Ok(vec![Loaded {
                source: format!("{source} (sealed to {})", with.token),
                item: Item::Shard(Box::new(shard)),
                sealed: Some(with),
            }])
        }
        Kind::Spike => Err(Error::input(
            path,
            "is a SPIKE recovery shard, not a keyceremony shard; re-split it with \
             `keyceremony split --from-spike FILE... --spike-threshold K`",
        )),
        Kind::Unknown if head.is_empty() => Err(Error::input(path, "empty file")),
        Kind::Unknown => Err(Error::input(
            path,
            "not a shard file, ceremony record, QR image or sealed share",
        )),
    }
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
    }
}
