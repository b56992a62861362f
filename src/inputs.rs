//! Reading the paths given to `verify` and `assemble`. Each file is told
//! apart by its content, not its name: a shard file or ceremony record
//! (JSON), a QR image (PNG/JPEG), or a share sealed to a token (age).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::record::CeremonyRecord;
use crate::recovery::Rejected;
use crate::shard::{self, JsonDocument, ShardFile};

/// Settings that affect how inputs are opened (tokens, PINs, ...).
#[derive(Debug, Default, Clone)]
pub struct InputOptions {
    /// Software test tokens instead of hardware (test mode).
    pub test_tokens: Option<PathBuf>,
    // Unsealing options (issue 4)
    /// `--pin-file F`: the token PIN for sealed shares; None asks on the terminal.
    pub pin_file: Option<PathBuf>,
    /// `--last-pin-try`: allow spending a token's last PIN try.
    pub last_pin_try: bool,
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

/// Reads one input path into the shards (or record) it holds.
pub fn load_path(path: &Path, opts: &InputOptions) -> Result<Vec<Loaded>> {
    let mut console = crate::token::TerminalConsole;
    let mut unsealer = unsealer_for(opts, &mut console);
    load_path_with(path, &mut unsealer)
}

// Unsealing options from the command line
impl InputOptions {
    pub fn with_unseal(&self, a: &crate::cli::UnsealArgs) -> InputOptions {
        InputOptions {
            pin_file: a.pin_file.clone(),
            last_pin_try: a.last_pin_try,
            ..self.clone()
        }
    }
}

// One unsealer per run keeps each token's PIN session
fn unsealer_for<'c>(
    opts: &InputOptions,
    console: &'c mut dyn crate::token::Console,
) -> crate::seal::Unsealer<'c> {
    crate::seal::Unsealer::new(
        crate::token::provider(opts.test_tokens.as_deref()),
        console,
        crate::token::PinSource {
            pin_file: opts.pin_file.clone(),
            last_pin_try: opts.last_pin_try,
        },
    )
}

fn load_path_with(path: &Path, unsealer: &mut crate::seal::Unsealer<'_>) -> Result<Vec<Loaded>> {
    let head = read_head(path)?;
    let source = path.display().to_string();
    match sniff(&head) {
        Kind::Json => {
            let bytes = read_bounded(path, shard::MAX_JSON_LEN, "shard file or ceremony record")?;
            let item = match shard::parse_document(&bytes).map_err(|e| Error::input(path, e))? {
                JsonDocument::Shard(s) => Item::Shard(s),
                JsonDocument::Record(r) => Item::Record(r),
            };
            Ok(vec![Loaded { source, item }])
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
                })
                .collect())
        }
        // Sealed shares (issue 4)
        Kind::Sealed => {
            let bytes = read_bounded(path, crate::seal::MAX_SEALED_LEN as u64, "sealed share")?;
            let (shard, token) = unsealer.unseal_shard(path, &bytes)?;
            Ok(vec![Loaded {
                source: format!("{source} (sealed to {token})"),
                item: Item::Shard(Box::new(shard)),
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
pub fn load_all(paths: &[PathBuf], opts: &InputOptions) -> (Vec<Loaded>, Vec<Rejected>) {
    let mut items = Vec::new();
    let mut failures = Vec::new();
    let mut console = crate::token::TerminalConsole;
    let mut unsealer = unsealer_for(opts, &mut console);
    for p in paths {
        match load_path_with(p, &mut unsealer) {
            Ok(mut got) => items.append(&mut got),
            Err(e) => failures.push(Rejected {
                source: p.display().to_string(),
                reason: reason_of(&e),
            }),
        }
    }
    (items, failures)
}

/// The message of an error without the file name it starts with.
fn reason_of(e: &Error) -> String {
    match e {
        Error::Input { problem, .. } => problem.clone(),
        Error::Io { action, source, .. } => format!("{action}: {source}"),
        other => other.to_string(),
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
