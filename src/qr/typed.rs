//! The typed fallback: the QR payload's body bytes as short lines a person
//! can copy from paper and type back, each line with its own check.
//!
//! The bytes (see `payload`) are written in Crockford base-32 (digits and
//! capitals without I, L, O, U), 20 characters per line in four groups of
//! five, then two check characters: the first 10 bits of
//! SHA-256("KC1 line <k>:<the line's characters>"), k counting from 1.
//! A printed line reads `03  ABCDE FGHJK MNPQR STVWX  7K`. When reading,
//! case, spaces and dashes do not matter, and O, I, L are read as 0, 1, 1.

use std::io::{BufRead, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::payload;
use crate::console::{read_bounded_line, Console};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::shard::ShardFile;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of share data per line.
pub const LINE_CHARS: usize = 20;
const GROUP: usize = 5;
/// Longest line read; anything longer is not a fallback line.
const MAX_LINE: usize = 200;

const SOURCE: &str = "typed share";

/// The fallback lines for a shard, as printed (secret: they hold the share).
pub fn fallback_lines(shard: &ShardFile) -> Zeroizing<Vec<String>> {
    let body = payload::encode_body(shard);
    let chars = to_base32(&body);
    let mut lines = Zeroizing::new(Vec::new());
    for (i, chunk) in chars.as_bytes().chunks(LINE_CHARS).enumerate() {
        let k = i + 1;
        let data = std::str::from_utf8(chunk).expect("ascii");
        let groups: Vec<&str> = chunk
            .chunks(GROUP)
            .map(|g| std::str::from_utf8(g).expect("ascii"))
            .collect();
        lines.push(format!(
            "{k:02}  {}  {}",
            groups.join(" "),
            line_check(k, data)
        ));
    }
    lines
}

fn line_check(k: usize, data: &str) -> String {
    let d = Sha256::digest(format!("KC1 line {k}:{data}").as_bytes());
    let v = (d[0] as usize) << 2 | (d[1] as usize) >> 6;
    let mut s = String::with_capacity(2);
    s.push(ALPHABET[v >> 5] as char);
    s.push(ALPHABET[v & 31] as char);
    s
}

fn to_base32(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 8 / 5 + 1));
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Base-32 characters back to bytes; `len` bytes expected, padding bits must be zero.
fn from_base32(chars: &[u8], len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in chars {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (out.len() == len && acc == 0).then_some(out)
}

fn chars_for(bytes: usize) -> usize {
    (bytes * 8).div_ceil(5)
}

/// Canonical characters of one typed token: upper case, Crockford look-alikes folded.
fn normalise(token: &str) -> Option<String> {
    token
        .chars()
        .filter(|c| *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => Some('0'),
            'I' | 'L' => Some('1'),
            c if ALPHABET.contains(&(c as u8)) && c.is_ascii() => Some(c),
            _ => None,
        })
        .collect()
}

enum LineProblem {
    Shape,
    Check,
}

/// Splits a typed line into (line number, data characters), checking its check.
fn parse_line(line: &str) -> Result<(usize, Zeroizing<String>), LineProblem> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens.len() < 3 {
        return Err(LineProblem::Shape);
    }
    let number: usize = tokens[0]
        .trim_end_matches([':', '.'])
        .parse()
        .map_err(|_| LineProblem::Shape)?;
    let check = normalise(tokens[tokens.len() - 1]).ok_or(LineProblem::Shape)?;
    let mut data = Zeroizing::new(String::new());
    for t in &tokens[1..tokens.len() - 1] {
        data.push_str(&normalise(t).ok_or(LineProblem::Shape)?);
    }
    if check.len() != 2 || data.is_empty() || data.len() > LINE_CHARS {
        return Err(LineProblem::Shape);
    }
    if line_check(number, &data) != check {
        return Err(LineProblem::Check);
    }
    Ok((number, data))
}

/// Reads typed fallback lines until the share is complete, checking each
/// line's check as it is entered and asking again for a line that fails.
/// Each line is asked for on `console` (the prompt carries the instructions
/// and why the last line was refused); the share read is told on `events`.
/// Blank lines and lines starting with `#` are skipped.
pub fn read_typed_share_from(
    console: &mut dyn Console,
    events: &mut dyn EventSink,
) -> Result<ShardFile> {
    let src = Path::new(SOURCE);
    let io_err = |e| Error::io(src, "cannot read typed lines", e);
    let mut before = String::from(
        "Type the fallback lines from the QR sheet, one per line, as printed (number, groups, check).\n",
    );
    let mut chars = Zeroizing::new(String::new());
    let mut total_lines: Option<usize> = None;
    let mut k = 1;
    loop {
        if let Some(total) = total_lines {
            if k > total {
                break;
            }
        }
        let prompt = match total_lines {
            Some(total) => format!("{before}line {k} of {total}: "),
            None => format!("{before}line {k}: "),
        };
        before.clear();
        let Some(buf) = console.read_line(&prompt, MAX_LINE).map_err(io_err)? else {
            return Err(Error::input(
                src,
                format!(
                    "input ended before line {k}{}; type every line of the fallback",
                    total_lines.map(|t| format!(" of {t}")).unwrap_or_default()
                ),
            ));
        };
        if buf.len() > MAX_LINE {
            return Err(Error::input(
                src,
                format!("line {k} is longer than {MAX_LINE} characters: not a fallback line"),
            ));
        }
        let text = buf.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let retry = match parse_line(text) {
            Ok((number, data)) if number == k => {
                chars.push_str(&data);
                if k == 1 {
                    total_lines = Some(total_for_first_line(&data).ok_or_else(|| {
                        Error::input(src, "line 1 does not start a keyceremony share (threshold out of range)")
                    })?);
                }
                k += 1;
                None
            }
            Ok((number, _)) => Some(format!(
                "that is line {number}; line {k} is expected next. Type line {k}."
            )),
            Err(LineProblem::Shape) => Some(format!(
                "line {k} is not shaped like a fallback line (\"{k:02}  ABCDE FGHJK MNPQR STVWX  7K\"). Type it again."
            )),
            Err(LineProblem::Check) => Some(format!(
                "line {k}: the check characters do not match; a character is mistyped. Type line {k} again."
            )),
        };
        if let Some(msg) = retry {
            before = format!("{msg}\n");
        }
    }
    let t = threshold_of(&chars).expect("line 1 was checked");
    let body = from_base32(chars.as_bytes(), payload::body_len(t)).ok_or_else(|| {
        Error::input(
            src,
            "the lines do not form a whole share (wrong length); check the last line",
        )
    })?;
    let shard = payload::decode_body(&body).map_err(|source| Error::QrPayload {
        path: src.to_path_buf(),
        source,
    })?;
    events.emit(Event::TypedShareRead {
        id: shard.share.id().get(),
        ceremony_id: shard.info.ceremony_id.clone(),
    });
    Ok(shard)
}

/// [`read_typed_share_from`] over a stream of lines, with the prompts and
/// the closing line written to `out`.
pub fn read_typed_share(lines: impl BufRead, out: &mut impl Write) -> Result<ShardFile> {
    struct Streams<'a, R, W> {
        lines: R,
        out: &'a mut W,
    }
    impl<R: BufRead, W: Write> Console for Streams<'_, R, W> {
        fn read_secret(&mut self, _: &str) -> std::io::Result<Zeroizing<String>> {
            Err(std::io::Error::other("typed lines only"))
        }
        fn confirm(&mut self, _: &str) -> bool {
            false
        }
        fn read_line(
            &mut self,
            prompt: &str,
            max_len: usize,
        ) -> std::io::Result<Option<Zeroizing<String>>> {
            self.out.write_all(prompt.as_bytes())?;
            self.out.flush()?;
            read_bounded_line(&mut self.lines, max_len)
        }
    }
    let mut events = Vec::new();
    let mut console = Streams { lines, out };
    let shard = read_typed_share_from(&mut console, &mut events)?;
    for e in events {
        writeln!(console.out, "{e}")
            .map_err(|e| Error::io(Path::new("terminal"), "cannot write prompt", e))?;
    }
    Ok(shard)
}

fn threshold_of(chars: &str) -> Option<u8> {
    let head = from_base32_prefix(chars.as_bytes(), payload::THRESHOLD_OFFSET + 1)?;
    Some(head[payload::THRESHOLD_OFFSET])
}

fn total_for_first_line(data: &str) -> Option<usize> {
    let t = threshold_of(data)?;
    if t < 2 {
        return None;
    }
    Some(chars_for(payload::body_len(t)).div_ceil(LINE_CHARS))
}

/// The first `len` bytes of a base-32 prefix.
fn from_base32_prefix(chars: &[u8], len: usize) -> Option<Vec<u8>> {
    let need = chars_for(len);
    if chars.len() < need {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in &chars[..need] {
        acc = (acc << 5) | ALPHABET.iter().position(|a| *a == c)? as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out.truncate(len);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips() {
        for len in [1usize, 5, 17, 115] {
            let bytes: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let s = to_base32(&bytes);
            assert_eq!(s.len(), chars_for(len));
            assert_eq!(&from_base32(s.as_bytes(), len).unwrap()[..], &bytes[..]);
        }
    }

    #[test]
    fn typos_fold() {
        assert_eq!(normalise("abcde").as_deref(), Some("ABCDE"));
        assert_eq!(normalise("O1l-I").as_deref(), Some("0111"));
        assert_eq!(normalise("U"), None);
    }
}
