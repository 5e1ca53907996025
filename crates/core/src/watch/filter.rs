//! Which files of a watched folder its knowledge base mirrors: supported formats, minus the
//! built-in excludes (hidden entries, editor swap/lock/temp files) and the folder's own globs.

use std::path::{Component, Path};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use lexinaut_extract::Format;

use crate::error::CoreError;

/// Names never mirrored, matched (case-insensitively) against every component of a path below
/// the folder: hidden files and folders (which covers `.DS_Store` and LibreOffice's
/// `.~lock.*#`), Office owner files (`~$report.docx`), temporary, swap and backup files.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".*",
    "~$*",
    ".~lock*",
    "*.tmp",
    "*.swp",
    "*~",
    ".DS_Store",
    "Thumbs.db",
];

/// A folder's compiled include/exclude rules.
#[derive(Debug)]
pub(crate) struct FolderFilter {
    builtin: GlobSet,
    include: Option<GlobSet>,
    exclude: GlobSet,
}

fn glob(pattern: &str) -> Result<Glob, CoreError> {
    // Case-insensitive: people write `*.pdf` and expect `季度报告.PDF` to match.
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| CoreError::InvalidInput(format!("glob {pattern:?}: {e}")))
}

fn set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<GlobSet, CoreError> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let p = p.trim();
        if p.is_empty() {
            return Err(CoreError::InvalidInput("a glob is empty".into()));
        }
        b.add(glob(p)?);
    }
    b.build()
        .map_err(|e| CoreError::InvalidInput(format!("globs: {e}")))
}

impl FolderFilter {
    /// Compiles a folder's globs. Globs match the path relative to the folder, `/`-separated
    /// (`*` crosses folders, so `*.pdf` matches at any depth; `drafts/**` matches a subtree);
    /// exclude globs also match any single folder or file name (`node_modules`, `*.bak`).
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, CoreError> {
        let include = if include.is_empty() {
            None
        } else {
            Some(set(include.iter().map(String::as_str))?)
        };
        Ok(Self {
            builtin: set(DEFAULT_EXCLUDES.iter().copied())?,
            include,
            exclude: set(exclude.iter().map(String::as_str))?,
        })
    }

    /// Whether `rel` (relative to the folder) and every folder above it are outside the excludes.
    fn not_excluded(&self, rel: &Path) -> bool {
        let mut names = 0;
        for c in rel.components() {
            let Component::Normal(name) = c else {
                // `..` or a root: not a path below the folder.
                return false;
            };
            if self.builtin.is_match(name) || self.exclude.is_match(name) {
                return false;
            }
            names += 1;
        }
        names == 0 || !self.exclude.is_match(slashed(rel))
    }

    /// Whether the scanner enters the folder `rel` (relative to the watched folder; empty for
    /// the watched folder itself).
    pub fn enters_dir(&self, rel: &Path) -> bool {
        self.not_excluded(rel)
    }

    /// Whether the file `rel` (relative to the watched folder) is mirrored: a format LexiNaut
    /// reads, not excluded, and matching an include glob when the folder has any.
    pub fn accepts_file(&self, rel: &Path) -> bool {
        if Format::from_path(rel).is_none() || !self.not_excluded(rel) {
            return false;
        }
        match &self.include {
            None => true,
            Some(include) => {
                include.is_match(slashed(rel))
                    || rel.file_name().is_some_and(|n| include.is_match(n))
            }
        }
    }
}

/// `rel` with `/` separators, as globs are written on every platform.
fn slashed(rel: &Path) -> String {
    let mut out = String::new();
    for c in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&c.as_os_str().to_string_lossy());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(f: &FolderFilter, rel: &str) -> bool {
        f.accepts_file(Path::new(rel))
    }

    #[test]
    fn builtin_excludes_cover_editor_and_system_files() {
        let f = FolderFilter::new(&[], &[]).expect("filter");
        for ok in ["a.txt", "子目录/报告.docx", "x/y/z.PDF", "notes.md"] {
            assert!(accepts(&f, ok), "{ok}");
        }
        for bad in [
            ".hidden.txt",
            ".git/readme.md",
            "a/.cache/b.txt",
            "~$报告.docx",
            "sub/~$报告.docx",
            ".~lock.报告.docx#",
            "sub/.~lock.a.odt#",
            "draft.tmp",
            "a/draft.TMP",
            ".a.txt.swp",
            "a.txt.swp",
            "a.txt~",
            ".DS_Store",
            "sub/Thumbs.db",
            "photo.png",
            "no-extension",
        ] {
            assert!(!accepts(&f, bad), "{bad}");
        }
        assert!(f.enters_dir(Path::new("")));
        assert!(f.enters_dir(Path::new("子目录")));
        assert!(!f.enters_dir(Path::new(".git")));
        assert!(!f.enters_dir(Path::new("a/.svn")));
    }

    #[test]
    fn include_and_exclude_globs() {
        let f = FolderFilter::new(
            &["*.pdf".into(), "reports/**".into()],
            &[
                "drafts/**".into(),
                "node_modules".into(),
                "*.bak.txt".into(),
            ],
        )
        .expect("filter");
        assert!(accepts(&f, "a.pdf"));
        assert!(accepts(&f, "deep/er/A.PDF"));
        assert!(accepts(&f, "reports/q1.txt"));
        assert!(!accepts(&f, "notes.txt"), "not included");
        assert!(!accepts(&f, "drafts/a.pdf"));
        assert!(!accepts(&f, "x/node_modules/a.pdf"));
        assert!(!accepts(&f, "reports/old.bak.txt"));
        assert!(!f.enters_dir(Path::new("x/node_modules")));
    }

    #[test]
    fn bad_globs_are_invalid_input() {
        for bad in [vec!["a[".to_owned()], vec!["  ".to_owned()]] {
            assert!(matches!(
                FolderFilter::new(&bad, &[]),
                Err(CoreError::InvalidInput(_))
            ));
        }
    }
}
