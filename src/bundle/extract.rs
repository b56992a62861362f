//! The output folder of `bundle open`: every file is staged in the batch's
//! hidden staging folder (0600) and put in place only when the whole bundle
//! has been checked (see [`crate::atomic_file`]: a new folder appears with
//! one rename). Folders this creates (0700) are removed again on failure.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::content::Sink;
use super::path_tree::PathTree;
use crate::atomic_file::{OutputBatch, StagedFile};
use crate::error::{Error, Result};

pub struct OutputFolder {
    root: PathBuf,
    force: bool,
    /// The file being written; declared first so it is gone before the
    /// batch removes the folders on a failed run.
    current: Option<StagedFile>,
    /// Staged files and the folders made for them: all land, or none.
    batch: OutputBatch,
    /// Folders already checked or made (the reader bounds their number).
    folders: PathTree,
}

impl OutputFolder {
    pub fn new(root: &Path, force: bool) -> Result<Self> {
        refuse_links_on_the_way(root)?;
        Ok(OutputFolder {
            root: root.to_path_buf(),
            force,
            current: None,
            batch: OutputBatch::in_dir(root, force)?,
            folders: PathTree::new(usize::MAX),
        })
    }

    /// Makes sure every folder of `rel` is a real folder, creating what is
    /// missing; each folder is looked at once per run, not once per file.
    fn ensure_dir(&mut self, rel: &str) -> Result<()> {
        let root = &self.root;
        let batch = &mut self.batch;
        self.folders
            .add_folders_with(rel, |prefix| batch.create_dir(&root.join(prefix)))
    }

    /// Moves every staged file into place; on failure removes what was moved.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        self.batch.commit()
    }
}

impl Sink for OutputFolder {
    fn dir(&mut self, path: &str) -> Result<()> {
        self.ensure_dir(path)
    }

    fn begin_file(&mut self, path: &str, _size: u64) -> Result<()> {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.ensure_dir(parent)?;
        }
        let target = self.root.join(path);
        // A folder made by this run holds nothing but what the run puts there.
        let existing = if self.batch.lands_in_new_folder() {
            Err(())
        } else {
            target.symlink_metadata().map_err(|_| ())
        };
        match existing {
            Ok(m) if m.file_type().is_file() && self.force => {}
            Ok(m) if m.file_type().is_file() => return Err(Error::Exists { path: target }),
            Ok(_) => {
                return Err(Error::input(
                    &target,
                    "is in the way: a folder or link exists where the bundle has a file",
                ))
            }
            Err(_) => {}
        }
        self.current = Some(self.batch.new_file(&target)?);
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        let staged = self.current.as_mut().expect("begin_file before write");
        staged.write_all(data)
    }

    fn end_file(&mut self) -> Result<()> {
        // Staged and closed here (atomic_file keeps few files open at once).
        match self.current.take() {
            Some(s) => self.batch.stage(s),
            None => Ok(()),
        }
    }
}

/// The output folder must not be a symbolic link (the files would land
/// wherever it points), and no folder on the way to it may be a link owned
/// by another user: whoever owns a link decides where it leads. Links owned
/// by root or by us (`/var/run` and the like) are followed.
fn refuse_links_on_the_way(root: &Path) -> Result<()> {
    if let Ok(m) = root.symlink_metadata() {
        if m.file_type().is_symlink() {
            return Err(Error::input(
                root,
                "is a symbolic link; bundle open writes only into a real folder \
                 (name the folder it points to if you trust it)",
            ));
        }
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut on_the_way = PathBuf::new();
    let mut parts = root.components().peekable();
    while let Some(part) = parts.next() {
        on_the_way.push(part);
        if parts.peek().is_none() {
            break; // the output folder itself, checked above
        }
        let Ok(m) = on_the_way.symlink_metadata() else {
            break; // missing from here on: created by us
        };
        if m.file_type().is_symlink() && m.uid() != 0 && m.uid() != me {
            return Err(Error::input(
                &on_the_way,
                format!(
                    "is a symbolic link owned by another user (uid {}), on the way to \
                     the output folder {}; refused, since its owner decides where the \
                     files would land",
                    m.uid(),
                    root.display()
                ),
            ));
        }
    }
    Ok(())
}
