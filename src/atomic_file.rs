//! Output files, written so that a crash (kill -9, power cut) at any moment
//! leaves each output either absent or complete, mode 0600. Nothing replaces
//! an existing file unless the caller says `force`.
//!
//! How:
//! - A file being written has no name: it is opened with `O_TMPFILE`, so a
//!   killed process leaves nothing behind (the kernel frees it). Where the
//!   file system cannot do that, it gets a hidden name `.keyceremony-*.tmp`.
//! - A single file is flushed and then linked under its final name (or,
//!   with `force`, linked under a hidden name and renamed over the old one).
//! - A batch ([`OutputBatch`]) aimed at a new folder is staged in a hidden
//!   folder `.keyceremony-staging-*` beside it, flushed, and appears with one
//!   rename. A batch into a folder that exists is staged in a hidden folder
//!   inside it; a journal written before the first file moves says which
//!   files go where, so a later run can finish the moves.
//! - Every hidden name is locked (`flock`) by the process that owns it. A
//!   later run that writes next to one it can lock knows its owner is gone:
//!   it finishes a journalled batch, and overwrites every other leftover with
//!   zeros, flushes and deletes it, and records what it removed
//!   ([`take_cleanups`]) for the caller to tell the person.
//!
//! On flash storage an overwrite may not reach the old blocks; the unnamed
//! temporary files are what keeps secrets off the disk's directory tree.

use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Permission bits of every file this tool writes.
pub const FILE_MODE: u32 = 0o600;
/// Permission bits of every folder this tool creates.
pub const DIR_MODE: u32 = 0o700;

/// Names of hidden files and folders this module makes start with this.
pub const HIDDEN_PREFIX: &str = ".keyceremony-";
const STAGING_PREFIX: &str = ".keyceremony-staging-";
const TEMP_SUFFIX: &str = ".tmp";
/// Inside a staging folder: the list of moves, present once they started.
const JOURNAL: &str = "journal.json";
const JOURNAL_TEMP: &str = "journal.json.new";
/// Staged files kept unnamed (open) at once; more are given a name inside
/// the staging folder, so a bundle of many files does not run out of file
/// descriptors.
const MAX_UNNAMED: usize = 64;

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Flushes the whole file system holding `path` to disk (`syncfs`).
fn sync_file_system(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    // SAFETY: syncfs on a descriptor this `File` owns for the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn fsync_dir(dir: &Path) {
    // Best effort: some file systems refuse fsync on a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Takes an exclusive `flock` on `file` without waiting; false when another
/// open file holds one. Released when the file is closed or the process ends.
fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a file descriptor this `File` owns for the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn random_name(prefix: &str, suffix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    format!("{prefix}{}{suffix}", hex::encode(bytes))
}

/// Leftovers of an interrupted run, found and removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cleanup {
    /// The hidden file or folder.
    pub path: PathBuf,
    /// Files overwritten with zeros, flushed and deleted.
    pub scrubbed: usize,
    /// Files of a journalled batch moved into place (the batch completed).
    pub completed: usize,
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning: {}: leftovers of an interrupted keyceremony run",
            self.path.display()
        )?;
        if self.completed > 0 {
            write!(
                f,
                "; its batch was completed ({} file(s) moved into place)",
                self.completed
            )?;
        }
        write!(
            f,
            "; removed ({} file(s) overwritten with zeros, then deleted)",
            self.scrubbed
        )
    }
}

static CLEANUPS: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());

/// Leftovers this process removed since the last call, for the caller to
/// tell the person.
pub fn take_cleanups() -> Vec<Cleanup> {
    match CLEANUPS.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

fn record_cleanup(c: Cleanup) {
    match CLEANUPS.lock() {
        Ok(mut v) => v.push(c),
        Err(poisoned) => poisoned.into_inner().push(c),
    }
}

/// Overwrites a file with zeros, flushes it and deletes it. True when it
/// was there and is gone.
pub fn scrub_file(path: &Path) -> bool {
    match path.symlink_metadata() {
        Ok(m) if m.file_type().is_file() => {
            if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
                let _ = overwrite_with_zeros(&mut f, m.len());
            }
            fs::remove_file(path).is_ok()
        }
        Ok(_) => fs::remove_file(path).is_ok(),
        Err(_) => false,
    }
}

fn overwrite_with_zeros(f: &mut File, len: u64) -> io::Result<()> {
    let zeros = [0u8; 64 * 1024];
    f.seek(io::SeekFrom::Start(0))?;
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_data()
}

/// Scrubs every file under `dir` (not following links), then removes the
/// folders. Returns the number of files scrubbed.
fn scrub_tree(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            match p.symlink_metadata() {
                Ok(m) if m.file_type().is_dir() => n += scrub_tree(&p),
                Ok(_) => {
                    if scrub_file(&p) {
                        n += 1;
                    }
                }
                Err(_) => {}
            }
        }
    }
    let _ = fs::remove_dir(dir);
    n
}

fn is_leftover_name(name: &str) -> bool {
    name.starts_with(STAGING_PREFIX)
        || (name.starts_with(HIDDEN_PREFIX) && name.ends_with(TEMP_SUFFIX))
}

/// Finds the leftovers of interrupted runs directly inside `dir`, completes
/// journalled batches, scrubs the rest, and records each (see
/// [`take_cleanups`]). Hidden names still locked by a running process are
/// left alone. A missing or unreadable folder has nothing to clean.
pub fn clean_leftovers(dir: &Path) -> Vec<Cleanup> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_leftover_name(name) {
            continue;
        }
        let path = e.path();
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let _ = fs::remove_file(&path);
            continue;
        }
        // The owner holds a lock on it for as long as it runs.
        let Ok(handle) = File::open(&path) else {
            continue;
        };
        if !try_lock(&handle) {
            continue;
        }
        let cleanup = if meta.file_type().is_dir() {
            let completed = finish_journal(dir, &path);
            let scrubbed = scrub_tree(&path);
            Cleanup {
                path,
                scrubbed,
                completed,
            }
        } else {
            let scrubbed = usize::from(scrub_file(&path));
            Cleanup {
                path,
                scrubbed,
                completed: 0,
            }
        };
        drop(handle);
        fsync_dir(dir);
        record_cleanup(cleanup.clone());
        found.push(cleanup);
    }
    found
}

/// Cleans the folder an output goes to and the folder around it.
pub fn clean_leftovers_around(out: &Path) -> Vec<Cleanup> {
    let mut found = clean_leftovers(&parent_of(out));
    if out.is_dir() {
        found.extend(clean_leftovers(out));
    }
    found
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Journal {
    force: bool,
    /// (name inside the staging folder, path relative to the output folder)
    moves: Vec<(String, String)>,
}

/// A relative path of plain names only (a journal is read from disk).
fn plain_relative(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let plain = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| p.to_path_buf())
}

/// Completes the moves of a journalled batch whose owner was killed.
/// Returns the number of files moved into place.
fn finish_journal(root: &Path, staging: &Path) -> usize {
    let Ok(text) = fs::read(staging.join(JOURNAL)) else {
        return 0;
    };
    let Ok(journal) = serde_json::from_slice::<Journal>(&text) else {
        return 0;
    };
    let mut moved = 0;
    for (name, rel) in &journal.moves {
        let (Some(name), Some(rel)) = (plain_relative(name), plain_relative(rel)) else {
            continue;
        };
        let from = staging.join(name);
        let to = root.join(&rel);
        let Ok(from_meta) = from.symlink_metadata() else {
            continue; // moved before the kill
        };
        if !from_meta.file_type().is_file() || !real_dirs_to(root, &rel) {
            continue;
        }
        match to.symlink_metadata() {
            // linked, not yet unlinked from the staging folder
            Ok(m) if m.dev() == from_meta.dev() && m.ino() == from_meta.ino() => {
                let _ = fs::remove_file(&from);
                moved += 1;
                continue;
            }
            Ok(m) if m.file_type().is_file() && journal.force => {}
            Ok(_) => continue,
            Err(_) => {}
        }
        if fs::rename(&from, &to).is_ok() {
            moved += 1;
        }
    }
    fsync_dir(root);
    let _ = fs::remove_file(staging.join(JOURNAL));
    moved
}

/// True when every folder between `root` and `rel`'s file is a real folder
/// (created 0700 if missing), so a move cannot be led elsewhere by a link.
fn real_dirs_to(root: &Path, rel: &Path) -> bool {
    let mut p = root.to_path_buf();
    let Some(parent) = rel.parent() else {
        return true;
    };
    for c in parent.components() {
        p.push(c);
        match p.symlink_metadata() {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => return false,
            Err(_) => {
                if fs::DirBuilder::new().mode(DIR_MODE).create(&p).is_err() {
                    return false;
                }
            }
        }
    }
    true
}

/// Links the open file `file` (opened with `O_TMPFILE`) under `target`;
/// fails with `AlreadyExists` when the name is taken.
fn link_unnamed(file: &File, target: &Path) -> io::Result<()> {
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let to = CString::new(target.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Who holds the lock that tells a later run a hidden file's owner is alive.
#[derive(Clone, Copy)]
enum Lock {
    /// The file itself (a hidden name beside other outputs).
    Own,
    /// The staging folder it is in.
    Folder,
}

/// Whether the process umask leaves the owner's read and write bits, so a
/// file created with mode 0600 has exactly 0600 (a umask only takes bits
/// away). Read once from `/proc/self/status`; unknown counts as no. This
/// tool never changes its umask.
fn umask_keeps_file_mode() -> bool {
    static KEEPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS.get_or_init(|| {
        let Ok(status) = fs::read_to_string("/proc/self/status") else {
            return false;
        };
        status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .is_some_and(|mask| mask & FILE_MODE == 0)
    })
}

/// Makes a file this module just created (asking for 0600) exactly 0600:
/// one `fchmod`, skipped when the umask cannot have taken bits away (for a
/// bundle of 100,000 files that is 100,000 system calls fewer).
fn exact_file_mode(file: &File) {
    if !umask_keeps_file_mode() {
        let _ = file.set_permissions(fs::Permissions::from_mode(FILE_MODE));
    }
}

/// A file being written: unnamed when the file system allows it, else under
/// a hidden locked name in `dir`.
struct Temp {
    /// Open while written and while it has no name; a named file staged in a
    /// batch is closed, so a batch of any size keeps few files open.
    file: Option<File>,
    /// Its name, once it has one.
    name: Option<PathBuf>,
}

impl Temp {
    fn create(dir: &Path) -> Result<Temp> {
        // Naming an unnamed file goes through /proc/self/fd.
        if !Path::new("/proc/self/fd").is_dir() {
            return Temp::create_named(dir, &random_name(HIDDEN_PREFIX, TEMP_SUFFIX), Lock::Own);
        }
        let unnamed = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_TMPFILE)
            .open(dir);
        match unnamed {
            Ok(file) => {
                exact_file_mode(&file);
                return Ok(Temp {
                    file: Some(file),
                    name: None,
                });
            }
            Err(e) if !unnamed_unsupported(&e) => {
                return Err(Error::io(dir, "cannot create a file in this folder", e))
            }
            Err(_) => {}
        }
        Temp::create_named(dir, &random_name(HIDDEN_PREFIX, TEMP_SUFFIX), Lock::Own)
    }

    fn create_named(dir: &Path, name: &str, lock: Lock) -> Result<Temp> {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| Error::io(dir, "cannot create a file in this folder", e))?;
        exact_file_mode(&file);
        if matches!(lock, Lock::Own) {
            let _ = try_lock(&file);
        }
        Ok(Temp {
            file: Some(file),
            name: Some(path),
        })
    }

    /// A named file at `path` inside a staging folder, making the folders
    /// on the way when they are missing. It is not locked on its own: the
    /// staging folder's lock covers everything in it (a later run's cleanup
    /// looks only at the names beside the staging folder).
    fn create_at(path: &Path) -> Result<Temp> {
        let dir = parent_of(path);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Usage(format!("{}: not a file name", path.display())))?;
        match Temp::create_named(&dir, name, Lock::Folder) {
            Err(_) if !dir.is_dir() => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(&dir)
                    .map_err(|e| Error::io(&dir, "cannot create folder", e))?;
                Temp::create_named(&dir, name, Lock::Folder)
            }
            made => made,
        }
    }

    /// Gives the file the name `path` (which must be free), once flushed.
    fn name_it(&mut self, path: &Path) -> io::Result<()> {
        match &self.name {
            Some(old) if old == path => return Ok(()),
            None => link_unnamed(self.file.as_ref().expect("an unnamed file is open"), path)?,
            Some(old) => {
                fs::hard_link(old, path)?;
                let _ = fs::remove_file(old);
            }
        }
        self.name = Some(path.to_path_buf());
        Ok(())
    }

    /// Overwrites the content with zeros and deletes the name, if any.
    fn scrub(mut self) {
        let reopened = || {
            let name = self.name.as_ref()?;
            OpenOptions::new().write(true).open(name).ok()
        };
        if let Some(mut f) = self.file.take().or_else(reopened) {
            if let Ok(m) = f.metadata() {
                let _ = overwrite_with_zeros(&mut f, m.len());
            }
        }
        if let Some(name) = self.name.take() {
            let _ = fs::remove_file(name);
        }
    }
}

fn unnamed_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
    )
}

/// One output file being written; it appears under its name only when
/// committed, and a dropped or killed one leaves nothing (its content is
/// overwritten with zeros when dropped).
pub struct StagedFile {
    target: PathBuf,
    temp: Option<Temp>,
}

impl StagedFile {
    /// A file that will land at `target`, whose folder exists. Leftovers of
    /// interrupted runs in that folder are removed first.
    pub fn new(target: &Path) -> Result<Self> {
        let dir = parent_of(target);
        clean_leftovers(&dir);
        Self::in_folder(target, &dir)
    }

    /// Stages the content in `dir` (on the same file system as `target`).
    fn in_folder(target: &Path, dir: &Path) -> Result<Self> {
        Ok(StagedFile {
            target: target.to_path_buf(),
            temp: Some(Temp::create(dir)?),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn writer(&mut self) -> &mut File {
        self.temp
            .as_mut()
            .and_then(|t| t.file.as_mut())
            .expect("staged file is open")
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let written = self.writer().write_all(bytes);
        written.map_err(|e| Error::io(&self.target, "cannot write", e))
    }

    fn flush(&mut self) -> Result<()> {
        let target = self.target.clone();
        self.writer()
            .sync_all()
            .map_err(|e| Error::io(&target, "cannot flush to disk", e))
    }

    /// Flushes the contents to disk and puts the file in place.
    pub fn commit(mut self, force: bool) -> Result<()> {
        self.flush()?;
        let target = self.target.clone();
        let dir = parent_of(&target);
        let mut temp = self.temp.take().expect("staged file is open");
        let placed = if force {
            let hidden = dir.join(random_name(STAGING_PREFIX, TEMP_SUFFIX));
            if let Some(f) = &temp.file {
                let _ = try_lock(f);
            }
            temp.name_it(&hidden)
                .and_then(|_| fs::rename(&hidden, &target))
        } else {
            temp.name_it(&target)
        };
        match placed {
            Ok(()) => {
                fsync_dir(&dir);
                Ok(())
            }
            Err(e) => {
                let exists = e.kind() == io::ErrorKind::AlreadyExists;
                if temp.name.as_deref() == Some(target.as_path()) {
                    temp.name = None; // the target is not ours to scrub
                }
                temp.scrub();
                if exists {
                    Err(Error::Exists { path: target })
                } else {
                    Err(Error::io(&target, "cannot move into place", e))
                }
            }
        }
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if let Some(t) = self.temp.take() {
            t.scrub();
        }
    }
}

/// Writes one file atomically with mode 0600.
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(Error::Exists {
            path: path.to_path_buf(),
        });
    }
    let mut staged = StagedFile::new(path)?;
    staged.write_all(bytes)?;
    staged.commit(force)
}

/// Makes `dir` ready to receive output: leftovers of interrupted runs in it
/// and beside it are removed first; when missing, it is created (0700)
/// together with any missing parents, and the folders created are returned,
/// outermost first, so a failed run can remove them again; when present, it
/// must be empty unless `force`.
pub fn prepare_output_dir(dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
    let mut created = create_parents(dir)?;
    match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(created)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            check_existing_output(dir, force)?;
            Ok(created)
        }
        Err(e) => {
            remove_created_dirs(&mut created);
            Err(Error::io(dir, "cannot create output folder", e))
        }
    }
}

/// Creates the missing folders above `dir` (not `dir` itself), cleaning
/// leftovers beside `dir`; returns the folders created, outermost first.
fn create_parents(dir: &Path) -> Result<Vec<PathBuf>> {
    let parent = parent_of(dir);
    let mut missing = Vec::new();
    let mut p = parent.clone();
    while p.symlink_metadata().is_err() {
        missing.push(p.clone());
        if !p.pop() || p.as_os_str().is_empty() {
            break;
        }
    }
    let mut created = Vec::new();
    for d in missing.into_iter().rev() {
        if let Err(e) = fs::DirBuilder::new().mode(DIR_MODE).create(&d) {
            remove_created_dirs(&mut created);
            return Err(Error::io(&d, "cannot create output folder", e));
        }
        created.push(d);
    }
    clean_leftovers(&parent);
    Ok(created)
}

fn check_existing_output(dir: &Path, force: bool) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(_) => {
            clean_leftovers(dir);
            let mut entries =
                fs::read_dir(dir).map_err(|e| Error::io(dir, "cannot open output folder", e))?;
            if entries.next().is_some() && !force {
                return Err(Error::input(
                    dir,
                    "output folder is not empty; choose a new folder or pass --force",
                ));
            }
            Ok(())
        }
        Err(e) => Err(Error::io(dir, "cannot open output folder", e)),
    }
}

/// Removes folders made by [`prepare_output_dir`], innermost first, as far
/// as they are empty.
pub fn remove_created_dirs(created: &mut Vec<PathBuf>) {
    for d in created.drain(..).rev() {
        let _ = fs::remove_dir(&d);
    }
}

/// The hidden folder a batch is staged in, locked while this process runs.
struct Staging {
    path: PathBuf,
    _lock: File,
}

impl Staging {
    /// A staging folder in `in_dir` for outputs into `out` (named in errors).
    fn create(in_dir: &Path, out: &Path) -> Result<Staging> {
        let path = in_dir.join(random_name(STAGING_PREFIX, ""));
        fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(&path)
            .map_err(|e| Error::io(out, "cannot write into the output folder", e))?;
        let lock = File::open(&path).map_err(|e| Error::io(&path, "cannot open", e))?;
        let _ = try_lock(&lock);
        Ok(Staging { path, _lock: lock })
    }
}

/// Where a batch lands.
enum Landing {
    /// The output folder did not exist: the staging folder becomes it.
    NewFolder,
    /// Into a folder that exists, file by file, through a journal.
    Existing,
}

struct Pending {
    target: PathBuf,
    /// Path relative to the batch's folder.
    rel: PathBuf,
    temp: Temp,
}

/// Several files that land together. Aimed at a new folder, they all appear
/// with one rename; into an existing folder, a journal makes a batch cut by
/// a crash complete on the next run. If anything fails, nothing is left,
/// and a folder this batch created is removed too.
pub struct OutputBatch {
    force: bool,
    /// The folder the files land in (set by the first file for [`new`](Self::new)).
    root: Option<PathBuf>,
    landing: Landing,
    staging: Option<Staging>,
    pending: Vec<Pending>,
    /// The targets of `pending`, to refuse one named twice in constant time.
    targets: std::collections::HashSet<PathBuf>,
    unnamed: usize,
    /// Folders this batch made, outermost first.
    created_dirs: Vec<PathBuf>,
}

impl OutputBatch {
    /// Prepares `dir` as an output folder: leftovers in and beside it are
    /// removed; when it exists it must be empty unless `force`; when missing,
    /// the batch is staged beside it and becomes it on commit.
    pub fn in_dir(dir: &Path, force: bool) -> Result<Self> {
        let mut batch = OutputBatch::new(force);
        batch.root = Some(dir.to_path_buf());
        match dir.symlink_metadata() {
            Ok(_) => {
                if !dir.is_dir() {
                    return Err(Error::input(dir, "output folder is not a folder"));
                }
                clean_leftovers(&parent_of(dir));
                check_existing_output(dir, force)?;
                batch.staging = Some(Staging::create(dir, dir)?);
            }
            Err(_) => {
                batch.created_dirs = create_parents(dir)?;
                batch.landing = Landing::NewFolder;
                batch.staging = Some(Staging::create(&parent_of(dir), dir)?);
            }
        }
        Ok(batch)
    }

    /// A batch of files in one existing folder (no folder checks).
    pub fn new(force: bool) -> Self {
        OutputBatch {
            force,
            root: None,
            landing: Landing::Existing,
            staging: None,
            pending: Vec::new(),
            targets: std::collections::HashSet::new(),
            unnamed: 0,
            created_dirs: Vec::new(),
        }
    }

    /// The output folder, the path of `target` relative to it, and the
    /// staging folder, set up by the first file of a [`new`](Self::new) batch.
    fn place(&mut self, target: &Path) -> Result<PathBuf> {
        if self.root.is_none() {
            let dir = parent_of(target);
            clean_leftovers(&dir);
            self.staging = Some(Staging::create(&dir, &dir)?);
            self.root = Some(dir);
        }
        let root = self.root.as_deref().expect("root set");
        let rel = target
            .strip_prefix(root)
            .ok()
            .and_then(|r| plain_relative(r.to_str()?))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: an output of this batch must be inside {}",
                    target.display(),
                    root.display()
                ))
            })?;
        // (A new folder has nothing in it yet: its commit refuses a folder
        // that appeared meanwhile.)
        if !self.force && !self.lands_in_new_folder() && target.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: target.to_path_buf(),
            });
        }
        if self.targets.contains(target) {
            return Err(Error::Usage(format!(
                "{}: the same output file is named twice",
                target.display()
            )));
        }
        Ok(rel)
    }

    /// Whether the batch makes its folder (which did not exist) on commit.
    pub fn lands_in_new_folder(&self) -> bool {
        matches!(self.landing, Landing::NewFolder)
    }

    fn staging_path(&self) -> &Path {
        &self.staging.as_ref().expect("staging folder").path
    }

    /// Starts a file of this batch, written through [`StagedFile::writer`]
    /// and handed back with [`stage`](Self::stage).
    pub fn new_file(&mut self, target: &Path) -> Result<StagedFile> {
        let rel = self.place(target)?;
        let staging = self.staging_path().to_path_buf();
        if self.lands_in_new_folder() && self.unnamed >= MAX_UNNAMED {
            // Past the unnamed ones, a file of a new folder is made where it
            // will be inside the (locked) staging folder: one directory entry
            // per file instead of three (a link under a pending name, a link
            // under its place, an unlink), which is most of what `bundle open`
            // of many small files costs.
            return Ok(StagedFile {
                target: target.to_path_buf(),
                temp: Some(Temp::create_at(&staging.join(rel))?),
            });
        }
        StagedFile::in_folder(target, &staging)
    }

    pub fn add(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut file = self.new_file(path)?;
        file.write_all(bytes)?;
        self.stage(file)
    }

    /// Adds a file started with [`new_file`](Self::new_file), flushed to disk.
    pub fn stage(&mut self, mut file: StagedFile) -> Result<()> {
        let rel = self.place(&file.target)?;
        // Not flushed one by one: the commit flushes the whole file system
        // once before anything appears (one sync, not two per file).
        let target = file.target.clone();
        file.writer()
            .flush()
            .map_err(|e| Error::io(&target, "cannot write", e))?;
        let mut temp = file.temp.take().expect("staged file is open");
        if temp.name.is_none() && self.unnamed >= MAX_UNNAMED {
            let name = self
                .staging_path()
                .join(format!("pending-{}", self.pending.len()));
            temp.name_it(&name)
                .map_err(|e| Error::io(&file.target, "cannot stage", e))?;
        } else if temp.name.is_none() {
            self.unnamed += 1;
        }
        if temp.name.is_some() {
            // its name in the (locked) staging folder is all the batch needs
            temp.file = None;
        }
        self.targets.insert(file.target.clone());
        self.pending.push(Pending {
            target: file.target.clone(),
            rel,
            temp,
        });
        Ok(())
    }

    /// Makes the folder `dir` (inside the output folder) for files of this
    /// batch, unless it is there; a failed run removes it again.
    pub fn create_dir(&mut self, dir: &Path) -> Result<()> {
        let root = self.root.clone().ok_or_else(|| {
            Error::Usage("a batch made with OutputBatch::new has no folders".into())
        })?;
        let rel = dir
            .strip_prefix(&root)
            .ok()
            .and_then(|r| plain_relative(r.to_str()?))
            .ok_or_else(|| Error::input(dir, "is outside the output folder"))?;
        let base = match self.landing {
            Landing::NewFolder => self.staging_path().to_path_buf(),
            Landing::Existing => root.clone(),
        };
        let mut p = base;
        let mut shown = root;
        for c in rel.components() {
            p.push(c);
            shown.push(c);
            match p.symlink_metadata() {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    return Err(Error::input(
                        &shown,
                        "is in the way: a folder is needed here (a file or link exists)",
                    ))
                }
                Err(_) => {
                    fs::DirBuilder::new()
                        .mode(DIR_MODE)
                        .create(&p)
                        .map_err(|e| Error::io(&shown, "cannot create folder", e))?;
                    if matches!(self.landing, Landing::Existing) {
                        self.created_dirs.push(p.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Records a folder made inside the output by the caller, so a failed
    /// run removes it too.
    pub fn created_dir(&mut self, dir: PathBuf) {
        self.created_dirs.push(dir);
    }

    /// Puts every staged file in place, or none; returns their paths.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        if self.staging.is_none() {
            return Ok(Vec::new());
        }
        let done = match self.landing {
            Landing::NewFolder => self.commit_new_folder()?,
            Landing::Existing => self.commit_existing()?,
        };
        self.created_dirs.clear();
        Ok(done)
    }

    /// Puts every staged file (and the folders holding them) on disk: one
    /// `syncfs` of the file system, or, where that fails, each file and
    /// folder in turn.
    fn sync_staged(&mut self, staging: &Path) -> Result<()> {
        if sync_file_system(staging).is_ok() {
            return Ok(());
        }
        let mut dirs = std::collections::BTreeSet::new();
        for p in self.pending.iter_mut() {
            let synced = match (&p.temp.file, &p.temp.name) {
                (Some(f), _) => f.sync_all(),
                (None, Some(name)) => File::open(name).and_then(|f| f.sync_all()),
                (None, None) => Ok(()),
            };
            synced.map_err(|e| Error::io(&p.target, "cannot flush to disk", e))?;
            if let Some(d) = p.temp.name.as_deref().and_then(Path::parent) {
                dirs.insert(d.to_path_buf());
            }
        }
        dirs.insert(staging.to_path_buf());
        for d in dirs.iter().rev() {
            fsync_dir(d);
        }
        Ok(())
    }

    fn commit_new_folder(&mut self) -> Result<Vec<PathBuf>> {
        let root = self.root.clone().expect("root set");
        let staging = self.staging_path().to_path_buf();
        let mut dirs = std::collections::HashSet::new();
        dirs.insert(staging.clone());
        for p in self.pending.iter_mut() {
            let at = staging.join(&p.rel);
            let dir = parent_of(&at);
            if !dirs.contains(&dir) {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(&dir)
                    .map_err(|e| Error::io(&p.target, "cannot stage", e))?;
                dirs.insert(dir);
            }
            p.temp
                .name_it(&at)
                .map_err(|e| Error::io(&p.target, "cannot stage", e))?;
        }
        // every file and folder of the batch on disk before the folder appears
        self.sync_staged(&staging)?;
        if root.symlink_metadata().is_ok() {
            return Err(Error::Exists { path: root });
        }
        fs::rename(&staging, &root)
            .map_err(|e| Error::io(&root, "cannot move the output folder into place", e))?;
        fsync_dir(&parent_of(&root));
        self.staging = None;
        // Nothing is staged any more: the files are the outputs.
        Ok(std::mem::take(&mut self.pending)
            .into_iter()
            .map(|p| p.target)
            .collect())
    }

    fn commit_existing(&mut self) -> Result<Vec<PathBuf>> {
        let root = self.root.clone().expect("root set");
        let staging = self.staging_path().to_path_buf();
        let mut moves = Vec::with_capacity(self.pending.len());
        for (i, p) in self.pending.iter_mut().enumerate() {
            let name = format!("{i}");
            let at = staging.join(&name);
            p.temp
                .name_it(&at)
                .map_err(|e| Error::io(&p.target, "cannot stage", e))?;
            if !self.force && p.target.symlink_metadata().is_ok() {
                return Err(Error::Exists {
                    path: p.target.clone(),
                });
            }
            moves.push((name, p.rel.to_string_lossy().into_owned()));
        }
        // the staged files on disk before the journal points at them
        self.sync_staged(&staging)?;
        let journal = Journal {
            force: self.force,
            moves,
        };
        let text = serde_json::to_vec(&journal).expect("journal serialises");
        let journal_at = staging.join(JOURNAL);
        let written = (|| -> io::Result<()> {
            let tmp = staging.join(JOURNAL_TEMP);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fsync_dir(&staging);
            fs::rename(&tmp, &journal_at)?;
            fsync_dir(&staging);
            Ok(())
        })();
        written.map_err(|e| Error::io(&staging, "cannot write the batch's journal", e))?;
        // From here on, a crash is completed by the next run.
        let mut done: Vec<PathBuf> = Vec::new();
        let mut failed = None;
        for p in self.pending.iter_mut() {
            let from = p.temp.name.clone().expect("named");
            let moved = if self.force {
                fs::rename(&from, &p.target)
            } else {
                fs::hard_link(&from, &p.target).map(|_| {
                    let _ = fs::remove_file(&from);
                })
            };
            match moved {
                Ok(()) => {
                    p.temp.name = None;
                    done.push(p.target.clone());
                }
                Err(e) => {
                    failed = Some(if e.kind() == io::ErrorKind::AlreadyExists {
                        Error::Exists {
                            path: p.target.clone(),
                        }
                    } else {
                        Error::io(&p.target, "cannot move into place", e)
                    });
                    break;
                }
            }
        }
        // Files in place are outputs now, not staged ones to scrub on drop.
        self.pending.retain(|p| p.temp.name.is_some());
        if let Some(e) = failed {
            let _ = fs::remove_file(&journal_at);
            if !self.force {
                for d in &done {
                    scrub_file(d);
                }
            }
            return Err(e);
        }
        // the moves on disk (every folder they touched) before the journal goes
        if sync_file_system(&root).is_err() {
            let mut dirs: Vec<&Path> = done.iter().filter_map(|p| p.parent()).collect();
            dirs.sort();
            dirs.dedup();
            for d in dirs {
                fsync_dir(d);
            }
        }
        let _ = fs::remove_file(&journal_at);
        let _ = fs::remove_dir(&staging);
        fsync_dir(&root);
        self.staging = None;
        Ok(done)
    }
}

impl Drop for OutputBatch {
    fn drop(&mut self) {
        // An abandoned batch: every staged file overwritten and gone, then
        // the staging folder and any folder the batch made.
        for p in self.pending.drain(..) {
            p.temp.scrub();
        }
        if let Some(s) = self.staging.take() {
            scrub_tree(&s.path);
        }
        remove_created_dirs(&mut self.created_dirs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_0600_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        write_file(&p, b"one", false).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            write_file(&p, b"two", false),
            Err(Error::Exists { .. })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_file(&p, b"two", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_file_being_written_has_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StagedFile::new(&dir.path().join("x")).unwrap();
        s.write_all(b"secret").unwrap();
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        s.commit(false).unwrap();
        assert_eq!(names(dir.path()), ["x"]);
    }

    #[test]
    fn abandoned_batch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        {
            let mut b = OutputBatch::in_dir(&out, false).unwrap();
            b.add(&out.join("x"), b"1").unwrap();
            assert!(!out.exists(), "a new folder appears only on commit");
        }
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn new_folder_appears_whole_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut b = OutputBatch::in_dir(&out, false).unwrap();
        b.add(&out.join("x"), b"1").unwrap();
        b.create_dir(&out.join("keys")).unwrap();
        let mut f = b.new_file(&out.join("keys/k")).unwrap();
        f.write_all(b"k").unwrap();
        b.stage(f).unwrap();
        let written = b.commit().unwrap();
        assert_eq!(written, [out.join("x"), out.join("keys/k")]);
        assert_eq!(names(dir.path()), ["out"]);
        assert_eq!(fs::read(out.join("keys/k")).unwrap(), b"k");
        let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, DIR_MODE);
    }

    #[test]
    fn abandoned_batch_removes_every_folder_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b/c");
        {
            let mut b = OutputBatch::in_dir(&out, false).unwrap();
            b.add(&out.join("x"), b"1").unwrap();
            let mode = fs::metadata(dir.path().join("a"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, DIR_MODE);
        }
        assert!(!dir.path().join("a").exists());
    }

    #[test]
    fn batch_refuses_non_empty_folder_without_force() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep"), b"k").unwrap();
        assert!(OutputBatch::in_dir(dir.path(), false).is_err());
        let mut b = OutputBatch::in_dir(dir.path(), true).unwrap();
        b.add(&dir.path().join("new"), b"n").unwrap();
        b.commit().unwrap();
        assert_eq!(names(dir.path()), ["keep", "new"]);
    }

    #[test]
    fn many_files_do_not_stay_open() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut b = OutputBatch::in_dir(&out, false).unwrap();
        for i in 0..(MAX_UNNAMED + 10) {
            b.add(&out.join(format!("f{i}")), b"x").unwrap();
        }
        assert_eq!(b.commit().unwrap().len(), MAX_UNNAMED + 10);
        assert_eq!(names(&out).len(), MAX_UNNAMED + 10);
    }

    #[test]
    fn leftovers_are_scrubbed_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(".keyceremony-staging-dead");
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("shard-1.json"), b"secret").unwrap();
        fs::write(dir.path().join(".keyceremony-old.tmp"), b"secret").unwrap();
        fs::write(dir.path().join(".keyceremony-other"), b"not ours").unwrap();
        let _ = take_cleanups();
        let found = clean_leftovers(dir.path());
        assert_eq!(found.len(), 2);
        assert_eq!(found.iter().map(|c| c.scrubbed).sum::<usize>(), 2);
        assert_eq!(names(dir.path()), [".keyceremony-other"]);
        let told = take_cleanups();
        assert!(found.iter().all(|c| told.contains(c)), "{told:?}");
    }

    #[test]
    fn a_live_staging_folder_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut b = OutputBatch::in_dir(&out, false).unwrap();
        b.add(&out.join("x"), b"1").unwrap();
        b.commit_named_for_test();
        assert!(clean_leftovers(dir.path()).is_empty());
        b.commit().unwrap();
        assert_eq!(fs::read(out.join("x")).unwrap(), b"1");
    }

    #[test]
    fn a_journalled_batch_is_completed_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(".keyceremony-staging-dead");
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("0"), b"one").unwrap();
        fs::write(staging.join("1"), b"two").unwrap();
        fs::write(dir.path().join("a"), b"one").unwrap(); // moved before the kill
        let journal = r#"{"force":false,"moves":[["2","a"],["1","sub/b"],["0","../escape"]]}"#;
        fs::write(staging.join(JOURNAL), journal).unwrap();
        let found = clean_leftovers(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].completed, 1);
        assert_eq!(found[0].scrubbed, 1, "the hostile move is scrubbed instead");
        assert_eq!(fs::read(dir.path().join("sub/b")).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a", "sub"]);
    }

    impl OutputBatch {
        /// Names every staged file in its staging folder, as a batch past
        /// the unnamed limit does.
        fn commit_named_for_test(&mut self) {
            let staging = self.staging_path().to_path_buf();
            for (i, p) in self.pending.iter_mut().enumerate() {
                if p.temp.name.is_none() {
                    p.temp.name_it(&staging.join(format!("t{i}"))).unwrap();
                }
            }
        }
    }
}
