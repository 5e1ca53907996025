//! Uploaded files: multipart fields streamed to `<data_dir>/uploads/<kb>/` under names made safe
//! (no path traversal, no hidden or reserved names), each limited to the largest readable file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Multipart;
use lexinaut_core::{CoreError, ErrorCode, FileIssue};
use tokio::io::AsyncWriteExt;

use super::error::HttpError;

/// Most files one upload request may carry.
pub const MAX_FILES: usize = 1000;
/// Folder levels kept from a client's relative file name (folder uploads send `a/b/c.txt`).
const MAX_DEPTH: usize = 8;
/// Longest name component kept, in bytes (file systems allow 255).
const MAX_COMPONENT_BYTES: usize = 200;

/// What an upload left on disk.
#[derive(Default)]
pub struct Stored {
    /// Files stored completely, to import.
    pub paths: Vec<PathBuf>,
    /// Files refused (too large), with the reason.
    pub refused: Vec<FileIssue>,
}

/// Streams every file field of `multipart` into `dir`. A file over `max_file_bytes` is dropped
/// and reported; a broken request stops the upload with an error (files already stored stay).
pub async fn store_files(
    multipart: &mut Multipart,
    dir: &Path,
    max_file_bytes: u64,
    seq: &AtomicU64,
) -> Result<Stored, HttpError> {
    let mut stored = Stored::default();
    let mut files = 0usize;
    while let Some(mut field) = multipart.next_field().await? {
        // Plain form fields (no file name) carry nothing to import.
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        files += 1;
        if files > MAX_FILES {
            return Err(HttpError::new(
                ErrorCode::InvalidInput,
                format!("an upload may carry at most {MAX_FILES} files"),
            ));
        }
        let dest = dir.join(safe_relative_path(&name));
        let parent = dest.parent().unwrap_or(dir);
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io_error(parent, source))?;
        // Written beside the target and renamed when complete, so a half-received file is
        // never imported and never replaces a good one.
        let part = parent.join(format!(
            ".upload-{}-{}.part",
            std::process::id(),
            seq.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(|source| io_error(&part, source))?;
        let mut size = 0u64;
        let mut too_large = false;
        let written: Result<(), HttpError> = async {
            while let Some(chunk) = field.chunk().await? {
                size += chunk.len() as u64;
                if size > max_file_bytes {
                    too_large = true;
                    break;
                }
                file.write_all(&chunk)
                    .await
                    .map_err(|source| io_error(&part, source))?;
            }
            file.flush().await.map_err(|source| io_error(&part, source))
        }
        .await;
        drop(file);
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        if too_large {
            let _ = tokio::fs::remove_file(&part).await;
            stored.refused.push(FileIssue {
                path: dest.display().to_string(),
                reason: format!(
                    "larger than the {} MiB limit for one file (LEXINAUT_MAX_FILE_MB)",
                    max_file_bytes / (1024 * 1024)
                ),
            });
            continue;
        }
        tokio::fs::rename(&part, &dest)
            .await
            .map_err(|source| io_error(&dest, source))?;
        if !stored.paths.contains(&dest) {
            stored.paths.push(dest);
        }
    }
    Ok(stored)
}

fn io_error(path: &Path, source: std::io::Error) -> HttpError {
    CoreError::Io {
        path: path.to_owned(),
        source,
    }
    .into()
}

/// A relative path for a file name a client sent: percent escapes decoded, split at `/` and
/// `\`, components `.`/`..`/empty dropped, leading dots, control and reserved characters
/// replaced, long names shortened (extension kept). Never absolute, never leaves its folder.
pub fn safe_relative_path(name: &str) -> PathBuf {
    let decoded = percent_decode(name);
    let parts: Vec<String> = decoded
        .split(['/', '\\'])
        .filter_map(safe_component)
        .collect();
    let keep = parts.len().saturating_sub(MAX_DEPTH);
    let path: PathBuf = parts[keep..].iter().collect();
    if path.as_os_str().is_empty() {
        PathBuf::from("upload")
    } else {
        path
    }
}

/// One safe path component, or `None` when nothing usable is left.
fn safe_component(part: &str) -> Option<String> {
    let replaced: String = part
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    // Leading dots make `..` and hidden files; trailing dots and spaces vanish on Windows.
    let trimmed = replaced
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        return None;
    }
    Some(shorten(trimmed))
}

/// `name` cut to `MAX_COMPONENT_BYTES` at a character boundary, keeping a short extension.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_COMPONENT_BYTES {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (name, None),
    };
    let room = MAX_COMPONENT_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    match ext {
        Some(ext) => format!("{}.{ext}", &stem[..cut]),
        None => stem[..cut].to_owned(),
    }
}

/// Decodes `%XX` escapes (some clients escape non-ASCII names); keeps the name as sent when
/// the result is not UTF-8.
fn percent_decode(name: &str) -> String {
    if !name.contains('%') {
        return name.to_owned();
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'_'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe(name: &str) -> String {
        safe_relative_path(name)
            .to_string_lossy()
            .replace('\\', "/")
    }

    #[test]
    fn traversal_and_absolute_names_stay_inside() {
        assert_eq!(safe("../../etc/passwd"), "etc/passwd");
        assert_eq!(safe("/etc/passwd"), "etc/passwd");
        assert_eq!(safe("..\\..\\windows\\win.ini"), "windows/win.ini");
        assert_eq!(safe("..%2F..%2Fsecret.txt"), "secret.txt");
        assert_eq!(safe("C:\\Users\\x\\报告.docx"), "C_/Users/x/报告.docx");
        assert_eq!(safe(".."), "upload");
        assert_eq!(safe(""), "upload");
        assert_eq!(safe("./././"), "upload");
        for name in ["../a", "a/../../b", "/../../x", "....//....//y"] {
            let p = safe_relative_path(name);
            assert!(p.is_relative(), "{name}");
            assert!(
                p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{name} -> {p:?}"
            );
        }
    }

    #[test]
    fn names_are_cleaned_but_recognisable() {
        assert_eq!(safe("季度 报告.pdf"), "季度 报告.pdf");
        assert_eq!(safe("资料/历史/长城.md"), "资料/历史/长城.md");
        assert_eq!(safe(".bashrc"), "bashrc");
        assert_eq!(safe("a\u{0}b\nc.txt"), "a_b_c.txt");
        assert_eq!(safe("what?.txt"), "what_.txt");
        assert_eq!(safe("%E6%8A%A5%E5%91%8A.txt"), "报告.txt");
        assert_eq!(safe("100%.txt"), "100%.txt");
        let long = format!("{}.txt", "长".repeat(100));
        let short = safe(&long);
        assert!(short.len() <= MAX_COMPONENT_BYTES, "{}", short.len());
        assert!(short.ends_with(".txt") && short.starts_with('长'));
        let deep = "a/".repeat(20) + "f.txt";
        assert_eq!(safe_relative_path(&deep).components().count(), MAX_DEPTH);
    }
}
