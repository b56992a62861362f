//! The names of an archive as a tree of path components, so that every
//! check an entry needs (seen before? a file and a folder at once? inside
//! something that is a file?) costs one walk down its own path: time linear
//! in the bytes of the names, whatever their number or depth. Sorted sets of
//! whole paths cost a string comparison per level of depth and per step of
//! the search, which a hostile archive of deep names (thousands of `a/a/...`
//! levels, compressing to almost nothing) turns into minutes.

use std::collections::HashMap;

#[derive(Default)]
struct Node {
    children: HashMap<Box<str>, usize>,
    file: bool,
}

/// Why a path does not fit the ones added before.
#[derive(Debug, PartialEq, Eq)]
pub enum Clash<'a> {
    /// The same file twice.
    Twice,
    /// A file where there is a folder, or a folder where there is a file.
    FileAndFolder,
    /// A path below this one, which is a file.
    InsideFile(&'a str),
    /// More folders than the limit, counting the ones names imply.
    TooManyFolders,
}

pub struct PathTree {
    nodes: Vec<Node>,
    folders: usize,
    max_folders: usize,
}

impl PathTree {
    pub fn new(max_folders: usize) -> Self {
        PathTree {
            nodes: vec![Node::default()],
            folders: 0,
            max_folders,
        }
    }

    fn child(
        &mut self,
        at: usize,
        part: &str,
        file: bool,
    ) -> Result<(usize, bool), Clash<'static>> {
        if let Some(&i) = self.nodes[at].children.get(part) {
            return Ok((i, false));
        }
        if !file {
            if self.folders >= self.max_folders {
                return Err(Clash::TooManyFolders);
            }
            self.folders += 1;
        }
        let i = self.nodes.len();
        self.nodes.push(Node {
            children: HashMap::new(),
            file,
        });
        self.nodes[at].children.insert(part.into(), i);
        Ok((i, true))
    }

    /// Adds a clean relative path (`a/b/c`, see `tar::clean_path`) as a file
    /// or a folder; every folder above it is implied. Ok(true) when it is
    /// new, Ok(false) for a folder already there.
    pub fn add<'a>(&mut self, path: &'a str, file: bool) -> Result<bool, Clash<'a>> {
        let mut at = 0;
        let mut start = 0;
        for (end, _) in path.match_indices('/') {
            let (i, _) = self.child(at, &path[start..end], false)?;
            if self.nodes[i].file {
                return Err(Clash::InsideFile(&path[..end]));
            }
            at = i;
            start = end + 1;
        }
        let (i, new) = self.child(at, &path[start..], file)?;
        match (new, self.nodes[i].file, file) {
            (true, _, _) => Ok(true),
            (false, true, true) => Err(Clash::Twice),
            (false, false, false) => Ok(false),
            (false, _, _) => Err(Clash::FileAndFolder),
        }
    }

    /// Calls `visit` for each folder of `dir` (outermost first, as a path
    /// prefix) not added before, and adds it once `visit` succeeds.
    pub fn add_folders_with<E>(
        &mut self,
        dir: &str,
        mut visit: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut at = 0;
        let ends = dir
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(dir.len()));
        let mut start = 0;
        for end in ends {
            let part = &dir[start..end];
            at = match self.nodes[at].children.get(part) {
                Some(&i) => i,
                None => {
                    visit(&dir[..end])?;
                    let i = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[at].children.insert(part.into(), i);
                    i
                }
            };
            start = end + 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_kind_of_clash() {
        let mut t = PathTree::new(10);
        assert_eq!(t.add("a/b/c", true), Ok(true));
        assert_eq!(t.add("a/b/c", true), Err(Clash::Twice));
        assert_eq!(t.add("a/b", true), Err(Clash::FileAndFolder));
        assert_eq!(t.add("a/b/c", false), Err(Clash::FileAndFolder));
        assert_eq!(t.add("a/b/c/d", true), Err(Clash::InsideFile("a/b/c")));
        assert_eq!(t.add("a/b/c/d", false), Err(Clash::InsideFile("a/b/c")));
        assert_eq!(t.add("a/b", false), Ok(false));
        assert_eq!(t.add("a/x", false), Ok(true));
        assert_eq!(t.add("a/x", true), Err(Clash::FileAndFolder));
        assert_eq!(t.add("top", true), Ok(true));
    }

    #[test]
    fn counts_implied_folders_against_the_limit() {
        let mut t = PathTree::new(3);
        assert_eq!(t.add("a/b/c/f", true), Ok(true));
        assert_eq!(t.add("a/b/c/g", true), Ok(true));
        assert_eq!(t.add("a/d/f", true), Err(Clash::TooManyFolders));
        assert_eq!(t.add("a/b/e", false), Err(Clash::TooManyFolders));
    }

    #[test]
    fn visits_each_new_folder_once() {
        let mut t = PathTree::new(0);
        let mut seen = Vec::new();
        t.add_folders_with("a/b/c", |p| -> Result<(), ()> {
            seen.push(p.to_string());
            Ok(())
        })
        .unwrap();
        t.add_folders_with("a/b/d", |p| -> Result<(), ()> {
            seen.push(p.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["a", "a/b", "a/b/c", "a/b/d"]);
        // A failed visit adds nothing.
        assert_eq!(t.add_folders_with("x/y", |_| Err(7)), Err(7));
        let mut again = Vec::new();
        t.add_folders_with("x", |p| -> Result<(), ()> {
            again.push(p.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(again, ["x"]);
    }
}
