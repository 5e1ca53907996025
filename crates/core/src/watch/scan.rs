//! Comparing a watched folder (or part of one) with the catalogue: which files are new, changed,
//! gone or moved. Blocking file-system work; the caller runs it on the blocking pool.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use lexinaut_extract::Format;

use crate::catalogue::{DocumentFile, DocumentMove, DocumentStatus};

use super::filter::FolderFilter;

/// What the scanner needs to know of a watched folder.
#[derive(Debug)]
pub(crate) struct FolderSpec {
    pub id: i64,
    pub kb_id: i64,
    /// The folder as the user gave it: documents are catalogued under this path.
    pub given: PathBuf,
    /// The folder with symlinks resolved: what is watched, and what documents are keyed by.
    pub canonical: PathBuf,
    pub filter: FolderFilter,
}

impl FolderSpec {
    /// Whether the folder is there (a directory; symlinks to one count).
    pub fn is_present(&self) -> bool {
        std::fs::metadata(&self.canonical).is_ok_and(|m| m.is_dir())
    }
}

/// A file on disk that the folder mirrors.
#[derive(Debug, Clone)]
pub(crate) struct DiskFile {
    pub folder_id: i64,
    /// Path under the folder as the user gave it.
    pub path: PathBuf,
    /// Path under the folder's canonical path (the scanner does not follow links, so this is
    /// the file's canonical path).
    pub canonical: String,
    pub size: i64,
    pub mtime_ms: i64,
}

/// One part of a folder compared with the catalogue: the files found on disk below `scope`
/// and the folders that could not be read (their documents are left alone).
#[derive(Debug, Default)]
pub(crate) struct ScopeScan {
    pub files: Vec<DiskFile>,
    pub unreadable: Vec<String>,
    /// Scopes that do not exist (deleted or renamed away).
    pub missing: Vec<PathBuf>,
}

pub(crate) fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn size(meta: &std::fs::Metadata) -> i64 {
    i64::try_from(meta.len()).unwrap_or(i64::MAX)
}

/// The files the folder mirrors at or below `scope` (the folder itself for a full scan, or a
/// path an event named). Symbolic links are not followed, so a link loop cannot trap the walk.
pub(crate) fn scan_scope(folder: &FolderSpec, scope: &Path, out: &mut ScopeScan) {
    let Ok(rel) = scope.strip_prefix(&folder.canonical) else {
        return;
    };
    if !folder
        .filter
        .enters_dir(rel.parent().unwrap_or(Path::new("")))
    {
        return;
    }
    let meta = match std::fs::symlink_metadata(scope) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out.missing.push(scope.to_owned());
            return;
        }
        Err(e) => {
            tracing::warn!(path = %scope.display(), error = %e, "cannot read; its documents are kept");
            out.unreadable.push(scope.display().to_string());
            return;
        }
    };
    if meta.is_file() {
        if folder.filter.accepts_file(rel) {
            out.files.push(DiskFile {
                folder_id: folder.id,
                path: folder.given.join(rel),
                canonical: scope.display().to_string(),
                size: size(&meta),
                mtime_ms: mtime_ms(&meta),
            });
        }
        return;
    }
    if !meta.is_dir() || !folder.filter.enters_dir(rel) {
        return;
    }
    let walk = walkdir::WalkDir::new(scope)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            !e.file_type().is_dir()
                || e.path()
                    .strip_prefix(&folder.canonical)
                    .is_ok_and(|r| folder.filter.enters_dir(r))
        });
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let Ok(rel) = e.path().strip_prefix(&folder.canonical) else {
                    continue;
                };
                if !folder.filter.accepts_file(rel) {
                    continue;
                }
                match e.metadata() {
                    Ok(meta) => out.files.push(DiskFile {
                        folder_id: folder.id,
                        path: folder.given.join(rel),
                        canonical: e.path().display().to_string(),
                        size: size(&meta),
                        mtime_ms: mtime_ms(&meta),
                    }),
                    // Gone between listing and stat: a later event or scan settles it.
                    Err(e) => tracing::debug!(error = %e, "file vanished during the scan"),
                }
            }
            Ok(_) => {}
            Err(e) => {
                let at = e.path().unwrap_or(scope).display().to_string();
                tracing::warn!(path = %at, error = %e, "cannot read; its documents are kept");
                out.unreadable.push(at);
            }
        }
    }
}

/// What to do to make a knowledge base mirror its folders.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Files to import: new ones (`true`) and changed ones (`false`), with their folder.
    pub import: Vec<(DiskFile, bool)>,
    /// Documents whose file moved, with the folder it moved into.
    pub moves: Vec<(DocumentMove, i64)>,
    /// Documents whose file is gone, with the folder it was in.
    pub removals: Vec<(i64, i64)>,
    /// Files whose size and modification time match the catalogue, by folder.
    pub unchanged: HashMap<i64, usize>,
}

fn file_name(path: &str) -> Option<&std::ffi::OsStr> {
    Path::new(path).file_name()
}

/// Compares what the scans found on disk with what the catalogue holds for the same places, and
/// pairs files that vanished with files that appeared with the same content (a move or rename).
/// `known` holds the catalogue's documents at or below every scanned scope; `hash` reads a
/// file's BLAKE3 (only files whose size equals a vanished document's size are hashed).
pub(crate) fn plan(
    found: Vec<DiskFile>,
    unreadable: &[String],
    known: Vec<(DocumentFile, i64)>,
    hash: &dyn Fn(&Path) -> Option<String>,
) -> Plan {
    let mut plan = Plan::default();
    let mut on_disk: HashMap<String, DiskFile> = HashMap::with_capacity(found.len());
    for f in found {
        on_disk.insert(f.canonical.clone(), f);
    }
    let mut seen = HashSet::new();
    let mut gone: Vec<(DocumentFile, i64)> = Vec::new();
    for (doc, folder_id) in known {
        if !seen.insert(doc.id) {
            continue;
        }
        match on_disk.remove(&doc.canonical_path) {
            Some(file) => {
                if file.size == doc.size && file.mtime_ms == doc.mtime_ms {
                    *plan.unchanged.entry(file.folder_id).or_default() += 1;
                } else {
                    // Same path, other size or time: the import compares hashes, so a file that
                    // was only touched costs a read and is not extracted again.
                    plan.import.push((file, false));
                }
            }
            None => {
                let sep = std::path::MAIN_SEPARATOR;
                let unknown = unreadable.iter().any(|u| {
                    doc.canonical_path == *u
                        || doc
                            .canonical_path
                            .strip_prefix(u.as_str())
                            .is_some_and(|rest| rest.starts_with(sep))
                });
                if !unknown {
                    gone.push((doc, folder_id));
                }
            }
        }
    }

    // Moves: a vanished indexed document and a new file with the same content.
    let mut by_size: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, (doc, _)) in gone.iter().enumerate() {
        if doc.status == DocumentStatus::Indexed && !doc.hash.is_empty() {
            by_size.entry(doc.size).or_default().push(i);
        }
    }
    let mut moved = vec![false; gone.len()];
    let mut new_files: Vec<DiskFile> = on_disk.into_values().collect();
    new_files.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    for file in new_files {
        let candidates: Vec<usize> = by_size
            .get(&file.size)
            .map(|c| c.iter().copied().filter(|i| !moved[*i]).collect())
            .unwrap_or_default();
        let matched = if candidates.is_empty() {
            None
        } else {
            hash(&file.path).and_then(|h| {
                // A rename that changes the format (notes.txt → notes.md) is read again: the
                // chunks were cut for the old format.
                let format = Format::from_path(Path::new(&file.canonical));
                let same: Vec<usize> = candidates
                    .into_iter()
                    .filter(|i| gone[*i].0.hash == h)
                    .filter(|i| Format::from_path(Path::new(&gone[*i].0.canonical_path)) == format)
                    .collect();
                // Several copies of the same content: prefer the one with the same file name.
                same.iter()
                    .copied()
                    .find(|i| file_name(&gone[*i].0.canonical_path) == file_name(&file.canonical))
                    .or_else(|| same.first().copied())
            })
        };
        match matched {
            Some(i) => {
                moved[i] = true;
                plan.moves.push((
                    DocumentMove {
                        id: gone[i].0.id,
                        path: file.path.display().to_string(),
                        canonical_path: file.canonical,
                        size: file.size,
                        mtime_ms: file.mtime_ms,
                    },
                    file.folder_id,
                ));
            }
            None => plan.import.push((file, true)),
        }
    }
    for (i, (doc, folder_id)) in gone.into_iter().enumerate() {
        if !moved[i] {
            plan.removals.push((doc.id, folder_id));
        }
    }
    plan
}

/// BLAKE3 of a file's content, hex; `None` when it cannot be read.
pub(crate) fn hash_file(path: &Path) -> Option<String> {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).ok()?;
    hasher.update_reader(file).ok()?;
    Some(hasher.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn doc(id: i64, path: &str, size: i64, hash: &str) -> DocumentFile {
        DocumentFile {
            id,
            kb_id: 1,
            path: path.into(),
            canonical_path: path.into(),
            size,
            mtime_ms: 1000,
            hash: hash.into(),
            status: DocumentStatus::Indexed,
            has_error: false,
        }
    }

    fn file(path: &str, size: i64, mtime_ms: i64) -> DiskFile {
        DiskFile {
            folder_id: 7,
            path: path.into(),
            canonical: path.into(),
            size,
            mtime_ms,
        }
    }

    #[test]
    fn new_changed_unchanged_gone_and_moved() {
        let known = vec![
            (doc(1, "/w/same.txt", 10, "h1"), 7),
            (doc(2, "/w/changed.txt", 10, "h2"), 7),
            (doc(3, "/w/old-name.txt", 20, "h3"), 7),
            (doc(4, "/w/deleted.txt", 20, "h4"), 7),
            (doc(5, "/w/locked/kept.txt", 5, "h5"), 7),
        ];
        let found = vec![
            file("/w/same.txt", 10, 1000),
            file("/w/changed.txt", 10, 2000),
            file("/w/new-name.txt", 20, 3000),
            file("/w/brand-new.txt", 20, 3000),
        ];
        let hashes: HashMap<&str, &str> =
            [("/w/new-name.txt", "h3"), ("/w/brand-new.txt", "hx")].into();
        let hashed = std::cell::RefCell::new(Vec::new());
        let hash = |p: &Path| {
            let p = p.to_str().unwrap();
            hashed.borrow_mut().push(p.to_owned());
            hashes.get(p).map(|h| (*h).to_owned())
        };
        let plan = plan(found, &["/w/locked".into()], known, &hash);
        assert_eq!(plan.unchanged, HashMap::from([(7, 1)]));
        let imports: Vec<(&str, bool)> = plan
            .import
            .iter()
            .map(|(f, new)| (f.canonical.as_str(), *new))
            .collect();
        assert_eq!(
            imports,
            [("/w/changed.txt", false), ("/w/brand-new.txt", true)]
        );
        assert_eq!(plan.moves.len(), 1);
        assert_eq!(plan.moves[0].0.id, 3);
        assert_eq!(plan.moves[0].0.canonical_path, "/w/new-name.txt");
        assert_eq!(plan.moves[0].1, 7);
        assert_eq!(
            plan.removals,
            [(4, 7)],
            "kept.txt is under an unreadable folder"
        );
        // Only files whose size matches a vanished document are read.
        let mut hashed = hashed.into_inner();
        hashed.sort();
        assert_eq!(hashed, ["/w/brand-new.txt", "/w/new-name.txt"]);
    }

    #[test]
    fn copies_of_one_content_pair_by_file_name() {
        let known = vec![
            (doc(1, "/a/x.txt", 3, "h"), 1),
            (doc(2, "/a/y.txt", 3, "h"), 1),
        ];
        let found = vec![file("/b/y.txt", 3, 1), file("/b/x.txt", 3, 1)];
        let plan = plan(found, &[], known, &|_| Some("h".into()));
        let mut moves: Vec<(i64, &str)> = plan
            .moves
            .iter()
            .map(|(m, _)| (m.id, m.canonical_path.as_str()))
            .collect();
        moves.sort();
        assert_eq!(moves, [(1, "/b/x.txt"), (2, "/b/y.txt")]);
        assert!(plan.import.is_empty() && plan.removals.is_empty());
    }

    #[test]
    fn a_rename_that_changes_the_format_is_not_a_move() {
        let plan = plan(
            vec![file("/a/notes.md", 3, 1)],
            &[],
            vec![(doc(1, "/a/notes.txt", 3, "h"), 1)],
            &|_| Some("h".into()),
        );
        assert!(plan.moves.is_empty());
        assert_eq!(plan.removals, [(1, 1)]);
        assert_eq!(plan.import.len(), 1);
    }

    #[test]
    fn failed_documents_are_not_moved() {
        let mut failed = doc(1, "/a/x.txt", 3, "h");
        failed.status = DocumentStatus::Failed;
        let plan = plan(
            vec![file("/a/z.txt", 3, 1)],
            &[],
            vec![(failed, 1)],
            &|_| Some("h".into()),
        );
        assert!(plan.moves.is_empty());
        assert_eq!(plan.removals, [(1, 1)]);
        assert_eq!(plan.import.len(), 1);
    }
}
