//! Output files: written to a temporary file in the destination folder,
//! flushed to disk, then renamed into place, mode 0600. Nothing replaces an
//! existing file unless the caller says `force`. A batch of files lands all
//! together or not at all.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempPath};

use crate::error::{Error, Result};

/// Permission bits of every file this tool writes.
pub const FILE_MODE: u32 = 0o600;
/// Permission bits of every folder this tool creates.
pub const DIR_MODE: u32 = 0o700;

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn fsync_dir(dir: &Path) {
    // Best effort: some file systems refuse fsync on a directory.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A temporary file beside `path`, mode 0600, deleted if never committed.
/// [`StagedFile::close`] flushes it and gives up its descriptor, keeping
/// only the name, so a batch of any size holds no open files.
pub struct StagedFile {
    target: PathBuf,
    temp: Staged,
}

enum Staged {
    Open(NamedTempFile),
    Closed(TempPath),
}

impl StagedFile {
    pub fn new(target: &Path) -> Result<Self> {
        let dir = parent_of(target);
        let temp = tempfile::Builder::new()
            .prefix(".keyceremony-")
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(FILE_MODE))
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, "cannot create a file in this folder", e))?;
        Ok(StagedFile {
            target: target.to_path_buf(),
            temp: Staged::Open(temp),
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open file. Panics after [`StagedFile::close`].
    pub fn writer(&mut self) -> &mut fs::File {
        match &mut self.temp {
            Staged::Open(f) => f.as_file_mut(),
            Staged::Closed(_) => panic!("a staged file is written before it is closed"),
        }
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let target = self.target.clone();
        self.writer()
            .write_all(bytes)
            .map_err(|e| Error::io(&target, "cannot write", e))
    }

    /// Flushes the contents to disk and closes the file; it stays staged
    /// (and is still deleted if never committed).
    pub fn close(self) -> Result<Self> {
        let StagedFile { target, temp } = self;
        let temp = match temp {
            Staged::Open(f) => {
                f.as_file()
                    .sync_all()
                    .map_err(|e| Error::io(&target, "cannot flush to disk", e))?;
                Staged::Closed(f.into_temp_path())
            }
            closed => closed,
        };
        Ok(StagedFile { target, temp })
    }

    /// Flushes the contents to disk and renames the file into place.
    pub fn commit(self, force: bool) -> Result<()> {
        let StagedFile { target, temp } = self.close()?;
        let Staged::Closed(temp) = temp else {
            unreachable!("closed above")
        };
        let persisted = if force {
            temp.persist(&target)
        } else {
            temp.persist_noclobber(&target)
        };
        if let Err(e) = persisted {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(Error::Exists { path: target });
            }
            return Err(Error::io(&target, "cannot move into place", e.error));
        }
        fsync_dir(&parent_of(&target));
        Ok(())
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

/// Makes `dir` ready to receive output: when missing, it is created (0700)
/// together with any missing parents, and the folders created are returned,
/// outermost first, so a failed run can remove them again; when present, it
/// must be empty unless `force`.
pub fn prepare_output_dir(dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(Error::input(
                    dir,
                    "output folder is not empty; choose a new folder or pass --force",
                ));
            }
            Ok(Vec::new())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut missing = Vec::new();
            let mut p = dir.to_path_buf();
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
            Ok(created)
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

/// Several files that land together: all are staged first, then renamed into
/// place; if anything fails, the ones already renamed are removed again, and
/// a folder this batch created is removed too.
pub struct OutputBatch {
    staged: Vec<StagedFile>,
    created_dirs: Vec<PathBuf>,
    force: bool,
}

impl OutputBatch {
    /// Prepares `dir` as an output folder (see [`prepare_output_dir`]).
    pub fn in_dir(dir: &Path, force: bool) -> Result<Self> {
        let mut batch = OutputBatch::new(force);
        batch.created_dirs = prepare_output_dir(dir, force)?;
        Ok(batch)
    }

    /// A batch of files in existing folders (no folder checks).
    pub fn new(force: bool) -> Self {
        OutputBatch {
            staged: Vec::new(),
            created_dirs: Vec::new(),
            force,
        }
    }

    pub fn add(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        if !self.force && path.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: path.to_path_buf(),
            });
        }
        if self.staged.iter().any(|s| s.target() == path) {
            return Err(Error::Usage(format!(
                "{}: the same output file is named twice",
                path.display()
            )));
        }
        let mut staged = StagedFile::new(path)?;
        staged.write_all(bytes)?;
        self.stage(staged)
    }

    /// Adds a file already staged (written through [`StagedFile::writer`]),
    /// flushing and closing it: a batch keeps names, not open files.
    pub fn stage(&mut self, file: StagedFile) -> Result<()> {
        self.staged.push(file.close()?);
        Ok(())
    }

    /// Records a folder made inside the output after [`OutputBatch::in_dir`],
    /// so a failed run removes it too.
    pub fn created_dir(&mut self, dir: PathBuf) {
        self.created_dirs.push(dir);
    }

    /// Renames every staged file into place, or none.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        let mut done: Vec<PathBuf> = Vec::new();
        let staged = std::mem::take(&mut self.staged);
        for file in staged {
            let target = file.target().to_path_buf();
            if let Err(e) = file.commit(self.force) {
                for p in &done {
                    let _ = fs::remove_file(p);
                }
                return Err(e);
            }
            done.push(target);
        }
        self.created_dirs.clear();
        Ok(done)
    }
}

impl Drop for OutputBatch {
    fn drop(&mut self) {
        // Staged temporaries delete themselves; a folder we made goes too.
        self.staged.clear();
        remove_created_dirs(&mut self.created_dirs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn abandoned_batch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        {
            let mut b = OutputBatch::in_dir(&out, false).unwrap();
            b.add(&out.join("x"), b"1").unwrap();
            assert!(out.exists());
        }
        assert!(!out.exists());
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
        assert!(dir.path().join("keep").exists());
        assert!(dir.path().join("new").exists());
    }
}
