//! The tar layer of a bundle, written and read here rather than through a
//! general tar library, so that every size is bounded and every entry is
//! judged before anything of it reaches the disk.
//!
//! Writing: POSIX ustar entries (regular files only, mode 0600, owner 0),
//! with a PAX `path` record for names that do not fit ustar and a PAX `size`
//! record for files of 8 GiB and more. Reading: ustar and GNU headers, PAX
//! `x`/`g` records and GNU long names (bounded), regular files and folders;
//! every other entry type, absolute paths and `..` are refused by name.

use std::io::{self, Read, Write};

pub const BLOCK: usize = 512;
/// Longest path accepted or written, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Largest PAX extended header (or GNU long-name entry) accepted.
pub const MAX_EXTENSION_LEN: u64 = 64 * 1024;
/// Largest size that fits the 11 octal digits of a ustar header.
const MAX_OCTAL_SIZE: u64 = 0o77777777777;

/// Why an archive entry is refused. Each names the entry as the archive gives it.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("the archive ends in the middle of an entry (truncated)")]
    Truncated,
    #[error("a tar header is damaged (checksum does not match)")]
    BadChecksum,
    #[error("a tar header is not in ustar/GNU format")]
    NotUstar,
    #[error("a tar header has an unreadable size field")]
    BadSize,
    #[error("entry {0:?} has an absolute path; refused")]
    AbsolutePath(String),
    #[error("entry {0:?} climbs out of the folder with '..'; refused")]
    ParentDir(String),
    #[error("entry {0:?} is a symbolic link; refused")]
    Symlink(String),
    #[error("entry {0:?} is a hard link; refused")]
    HardLink(String),
    #[error("entry {0:?} is a device node; refused")]
    Device(String),
    #[error("entry {0:?} is a named pipe; refused")]
    Fifo(String),
    #[error("entry {path:?} has unsupported type {kind:?}; refused")]
    Unsupported { path: String, kind: char },
    #[error("an entry name is empty, not UTF-8, contains NUL or backslash, or is longer than {MAX_PATH_LEN} bytes")]
    BadName,
    #[error("an extended (PAX or GNU long-name) header is larger than {MAX_EXTENSION_LEN} bytes; refused")]
    ExtensionTooLarge,
    #[error("an extended (PAX) header is malformed")]
    BadPax,
    #[error("the archive ends without its end-of-archive marker (two zero blocks): truncated")]
    NoEnd,
    #[error(
        "a zero block that is not followed by a second one: the end-of-archive marker is damaged"
    )]
    LoneZeroBlock,
}

// ---------------------------------------------------------------- writing

fn put_octal(field: &mut [u8], value: u64) {
    // Zero-padded octal, NUL-terminated, filling the field.
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

fn header_block(name: &[u8], prefix: &[u8], size: u64, kind: u8, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    put_octal(&mut h[100..108], 0o600);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    put_octal(&mut h[124..136], size.min(MAX_OCTAL_SIZE));
    put_octal(&mut h[136..148], mtime.min(MAX_OCTAL_SIZE));
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

/// Splits a path into ustar (prefix, name) if it fits.
fn ustar_split(path: &str) -> Option<(&[u8], &[u8])> {
    let b = path.as_bytes();
    if b.len() <= 100 {
        return Some((&[], b));
    }
    // The prefix ends at a '/', which is not stored.
    for (i, &c) in b.iter().enumerate() {
        if c == b'/' && i <= 155 && b.len() - i - 1 <= 100 && b.len() - i - 1 > 0 {
            return Some((&b[..i], &b[i + 1..]));
        }
    }
    None
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    // "<len> key=value\n" where len counts itself.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

/// Writes a tar stream of regular files.
pub struct TarWriter<W: Write> {
    inner: W,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(inner: W, mtime: u64) -> Self {
        TarWriter { inner, mtime }
    }

    /// Writes the header of a regular file; the caller then writes exactly
    /// `size` bytes with [`TarWriter::write_data`] and calls [`TarWriter::end_file`].
    pub fn begin_file(&mut self, path: &str, size: u64) -> io::Result<()> {
        let mut pax = Vec::new();
        let split = ustar_split(path);
        if split.is_none() {
            pax.extend(pax_record("path", path));
        }
        if size > MAX_OCTAL_SIZE {
            pax.extend(pax_record("size", &size.to_string()));
        }
        if !pax.is_empty() {
            let h = header_block(b"PaxHeader", &[], pax.len() as u64, b'x', self.mtime);
            self.inner.write_all(&h)?;
            self.inner.write_all(&pax)?;
            self.pad(pax.len() as u64)?;
        }
        let (prefix, name) = split.unwrap_or((&[], b"long-name-in-pax-header"));
        let h = header_block(name, prefix, size, b'0', self.mtime);
        self.inner.write_all(&h)
    }

    pub fn write_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.write_all(data)
    }

    pub fn end_file(&mut self, size: u64) -> io::Result<()> {
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.inner.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.inner)
    }
}

// ---------------------------------------------------------------- reading

/// One entry as the reader hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { path: String, size: u64 },
    Dir { path: String },
}

/// Reads a tar stream entry by entry; file data through [`TarReader::read_data`].
pub struct TarReader<R: Read> {
    inner: R,
    /// Data bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    finished: bool,
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<bool, TarError> {
    // Ok(false) on a clean end before the first byte; Truncated if it ends later.
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(TarError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn parse_octal(field: &[u8]) -> Result<u64, TarError> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            // GNU base-256: big-endian binary after the marker bit.
            if first != 0x80 {
                return Err(TarError::BadSize);
            }
            let mut v: u64 = 0;
            for &b in &field[1..] {
                if v >> 56 != 0 {
                    return Err(TarError::BadSize);
                }
                v = (v << 8) | b as u64;
            }
            return Ok(v);
        }
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&text).map_err(|_| TarError::BadSize)?;
    u64::from_str_radix(s, 8).map_err(|_| TarError::BadSize)
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Turns an archive name into a safe relative path, or says why not.
pub fn clean_path(raw: &[u8]) -> Result<String, TarError> {
    let text = std::str::from_utf8(raw).map_err(|_| TarError::BadName)?;
    if text.is_empty() || text.len() > MAX_PATH_LEN || text.contains('\0') || text.contains('\\') {
        return Err(TarError::BadName);
    }
    if text.starts_with('/') {
        return Err(TarError::AbsolutePath(text.to_string()));
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(TarError::ParentDir(text.to_string())),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(TarError::BadName);
    }
    Ok(parts.join("/"))
}

#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    size: Option<u64>,
}

fn parse_pax(data: &[u8], into: &mut Pax) -> Result<(), TarError> {
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(TarError::BadPax)?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(TarError::BadPax)?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(TarError::BadPax);
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or(TarError::BadPax)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => into.path = Some(value.to_vec()),
            b"size" => {
                let v = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(TarError::BadPax)?;
                into.size = Some(v);
            }
            // Link targets only matter for links, which are refused anyway;
            // times, owners and the rest do not matter for a bundle.
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(())
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            remaining: 0,
            padding: 0,
            finished: false,
        }
    }

    fn skip(&mut self, mut n: u64) -> Result<(), TarError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let take = n.min(buf.len() as u64) as usize;
            if !read_full(&mut self.inner, &mut buf[..take])? {
                return Err(TarError::Truncated);
            }
            n -= take as u64;
        }
        Ok(())
    }

    fn read_extension(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        if size > MAX_EXTENSION_LEN {
            return Err(TarError::ExtensionTooLarge);
        }
        let mut data = vec![0u8; size as usize];
        if !read_full(&mut self.inner, &mut data)? && size > 0 {
            return Err(TarError::Truncated);
        }
        self.skip(padding_of(size))?;
        Ok(data)
    }

    /// The next entry, or `None` at the end of the archive. Unread data of
    /// the previous entry is skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        if self.finished {
            return Ok(None);
        }
        // Bounded when the entry was read (size + padding fits in u64);
        // checked again here so no later change can make it wrap.
        let rest = self
            .remaining
            .checked_add(self.padding)
            .ok_or(TarError::BadSize)?;
        self.skip(rest)?;
        self.remaining = 0;
        self.padding = 0;
        let mut pax = Pax::default();
        let mut long_name: Option<Vec<u8>> = None;
        loop {
            let mut h = [0u8; BLOCK];
            if !read_full(&mut self.inner, &mut h)? {
                return Err(
                    if pax.path.is_some() || pax.size.is_some() || long_name.is_some() {
                        TarError::Truncated
                    } else {
                        TarError::NoEnd
                    },
                );
            }
            if h.iter().all(|&b| b == 0) {
                // The end marker is two zero blocks; an archive cut after
                // the first is truncated. Anything after is not read here.
                if !read_full(&mut self.inner, &mut h)? {
                    return Err(TarError::NoEnd);
                }
                if h.iter().any(|&b| b != 0) {
                    return Err(TarError::LoneZeroBlock);
                }
                self.finished = true;
                return Ok(None);
            }
            let stored = parse_octal(&h[148..156]).map_err(|_| TarError::BadChecksum)?;
            let unsigned: u64 = h
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        b as u64
                    }
                })
                .sum();
            let signed: i64 = h
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        b as i8 as i64
                    }
                })
                .sum();
            if stored != unsigned && stored as i64 != signed {
                return Err(TarError::BadChecksum);
            }
            let magic = &h[257..263];
            let is_ustar = magic == b"ustar\0";
            let is_gnu = magic == b"ustar ";
            if !is_ustar && !is_gnu {
                return Err(TarError::NotUstar);
            }
            let header_size = parse_octal(&h[124..136])?;
            let kind = h[156];

            match kind {
                b'x' => {
                    let data = self.read_extension(header_size)?;
                    parse_pax(&data, &mut pax)?;
                    continue;
                }
                b'g' => {
                    // Global defaults: read (bounded) and ignored.
                    self.read_extension(header_size)?;
                    continue;
                }
                b'L' => {
                    let data = self.read_extension(header_size)?;
                    long_name = Some(cstr(&data).to_vec());
                    continue;
                }
                _ => {}
            }

            let raw_name = if let Some(p) = pax.path.take() {
                p
            } else if let Some(n) = long_name.take() {
                n
            } else {
                let name = cstr(&h[..100]);
                let prefix = if is_ustar {
                    cstr(&h[345..500])
                } else {
                    &[][..]
                };
                if prefix.is_empty() {
                    name.to_vec()
                } else {
                    [prefix, b"/", name].concat()
                }
            };
            let shown = String::from_utf8_lossy(&raw_name).into_owned();
            // Judge the type first, so a link is called a link even when its name is odd.
            match kind {
                b'0' | 0 | b'5' => {}
                b'1' => return Err(TarError::HardLink(shown)),
                b'2' | b'K' => return Err(TarError::Symlink(shown)),
                b'3' | b'4' => return Err(TarError::Device(shown)),
                b'6' => return Err(TarError::Fifo(shown)),
                other => {
                    return Err(TarError::Unsupported {
                        path: shown,
                        kind: other as char,
                    })
                }
            }
            let size = pax.size.unwrap_or(header_size);
            // No archive holds such an entry, and skipping it would overflow.
            if size.checked_add(padding_of(size)).is_none() {
                return Err(TarError::BadSize);
            }
            let path = clean_path(&raw_name)?;
            if kind == b'5' || raw_name.ends_with(b"/") {
                // A folder's size, if any, is skipped.
                self.remaining = size;
                self.padding = padding_of(size);
                return Ok(Some(Entry::Dir { path }));
            }
            self.remaining = size;
            self.padding = padding_of(size);
            return Ok(Some(Entry::File { path, size }));
        }
    }

    /// Reads data of the current file entry; 0 at its end.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let take = self.remaining.min(buf.len() as u64) as usize;
        let n = loop {
            match self.inner.read(&mut buf[..take]) {
                Ok(0) => return Err(TarError::Truncated),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        self.remaining -= n as u64;
        Ok(n)
    }

    /// The inner reader, positioned after the end marker (or wherever
    /// reading stopped).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn padding_of(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new(), 1_700_000_000);
        for (p, d) in files {
            w.begin_file(p, d.len() as u64).unwrap();
            w.write_data(d).unwrap();
            w.end_file(d.len() as u64).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            let mut data = Vec::new();
            let mut buf = [0u8; 100];
            loop {
                let n = r.read_data(&mut buf)?;
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
            }
            out.push((e, data));
        }
        Ok(out)
    }

    #[test]
    fn round_trips_short_and_long_names() {
        let long = format!("{}/{}", "d".repeat(150), "f".repeat(90));
        let very_long = format!("{}/x", "e".repeat(300));
        let files: Vec<(&str, &[u8])> = vec![
            ("a.txt", b"hello"),
            (&long, b"x"),
            (&very_long, &[7u8; 1000]),
            ("empty", b""),
        ];
        let got = read_all(&archive(&files)).unwrap();
        assert_eq!(got.len(), 4);
        for ((e, d), (p, want)) in got.iter().zip(&files) {
            assert_eq!(
                e,
                &Entry::File {
                    path: p.to_string(),
                    size: want.len() as u64
                }
            );
            assert_eq!(&d[..], *want);
        }
    }

    #[test]
    fn pax_size_record_is_written_for_huge_files() {
        let mut w = TarWriter::new(Vec::new(), 0);
        w.begin_file("big", 9 << 30).unwrap();
        let bytes = w.inner;
        let mut r = TarReader::new(&bytes[..]);
        assert_eq!(
            r.next_entry().unwrap(),
            Some(Entry::File {
                path: "big".into(),
                size: 9 << 30
            })
        );
    }

    fn with_kind(name: &str, kind: u8) -> Vec<u8> {
        let mut a = header_block(name.as_bytes(), &[], 0, kind, 0).to_vec();
        a.extend([0u8; 1024]);
        a
    }

    #[test]
    fn refuses_hostile_entries_by_name() {
        assert!(
            matches!(read_all(&archive(&[("/etc/passwd", b"x")])), Err(TarError::AbsolutePath(p)) if p == "/etc/passwd")
        );
        assert!(matches!(
            read_all(&archive(&[("a/../../x", b"x")])),
            Err(TarError::ParentDir(_))
        ));
        assert!(matches!(
            read_all(&with_kind("l", b'2')),
            Err(TarError::Symlink(_))
        ));
        assert!(matches!(
            read_all(&with_kind("h", b'1')),
            Err(TarError::HardLink(_))
        ));
        assert!(matches!(
            read_all(&with_kind("c", b'3')),
            Err(TarError::Device(_))
        ));
        assert!(matches!(
            read_all(&with_kind("b", b'4')),
            Err(TarError::Device(_))
        ));
        assert!(matches!(
            read_all(&with_kind("p", b'6')),
            Err(TarError::Fifo(_))
        ));
        assert!(matches!(
            read_all(&with_kind("s", b'S')),
            Err(TarError::Unsupported { .. })
        ));
    }

    #[test]
    fn refuses_damage_truncation_and_huge_extensions() {
        let good = archive(&[("a", b"data")]);
        let mut bad = good.clone();
        bad[0] ^= 1;
        assert!(matches!(read_all(&bad), Err(TarError::BadChecksum)));
        assert!(matches!(read_all(&good[..600]), Err(TarError::Truncated)));
        assert!(matches!(read_all(&good[..512]), Err(TarError::Truncated)));
        let mut huge = header_block(b"PaxHeader", &[], 1 << 40, b'x', 0).to_vec();
        huge.extend([0u8; 1024]);
        assert!(matches!(read_all(&huge), Err(TarError::ExtensionTooLarge)));
    }

    #[test]
    fn clean_path_normalises_harmless_forms() {
        assert_eq!(clean_path(b"./data//keys/./k").unwrap(), "data/keys/k");
        assert!(clean_path(b"./").is_err());
        assert!(clean_path(b"a\\b").is_err());
    }
}
