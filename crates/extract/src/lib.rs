//! lexinaut-extract: turns one file into plain text with page boundaries.
//! Pure and synchronous: it reads only the file it is given and never touches the network.

mod markdown;
mod text;

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A document format this crate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Plain text in any common encoding (`.txt`).
    Text,
    /// CommonMark / GitHub Markdown (`.md`, `.markdown`).
    Markdown,
}

impl Format {
    /// The format a path's extension names, if LexiNaut reads it.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "txt" | "text" => Some(Self::Text),
            "md" | "markdown" => Some(Self::Markdown),
            _ => None,
        }
    }
}

/// One page of the extracted text, as a half-open range of character offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageSpan {
    /// 1-based page (or slide) number.
    pub number: u32,
    /// Offset of the page's first character in [`Extracted::text`], in Unicode scalar values.
    pub start: usize,
    /// Offset one past the page's last character.
    pub end: usize,
}

/// The result of extracting one file.
#[derive(Debug, Clone, Serialize)]
pub struct Extracted {
    /// The format the file was read as.
    pub format: Format,
    /// The text encoding that was detected, for text-like formats.
    pub encoding: Option<String>,
    /// The whole extracted text.
    pub text: String,
    /// Page boundaries; empty for formats without pages.
    pub pages: Vec<PageSpan>,
    /// Things the user should know, e.g. a low-confidence encoding guess.
    pub warnings: Vec<String>,
}

impl Extracted {
    /// The page containing character offset `at`, if the format has pages.
    pub fn page_at(&self, at: usize) -> Option<u32> {
        self.pages
            .iter()
            .find(|p| p.start <= at && at < p.end.max(p.start + 1))
            .map(|p| p.number)
    }
}

/// Bounds that protect the app from hostile or huge files.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are refused before being read.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 200 * 1024 * 1024,
        }
    }
}

/// Why a file could not be extracted. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The extension is not one LexiNaut reads.
    #[error("{path}: unsupported file type")]
    Unsupported {
        /// The file.
        path: PathBuf,
    },
    /// The file is larger than [`Limits::max_file_bytes`].
    #[error("{path}: file is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The file has no bytes at all.
    #[error("{path}: file is empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file claims to be text but holds binary data.
    #[error("{path}: not a text file (binary content)")]
    Binary {
        /// The file.
        path: PathBuf,
    },
}

impl ExtractError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::Unsupported { path }
            | Self::TooLarge { path, .. }
            | Self::Empty { path }
            | Self::Binary { path } => path,
        }
    }
}

/// Extracts the text of `path`, choosing the reader by its extension.
pub fn extract_file(path: &Path, limits: &Limits) -> Result<Extracted, ExtractError> {
    let format = Format::from_path(path).ok_or_else(|| ExtractError::Unsupported {
        path: path.to_owned(),
    })?;
    let io = |source| ExtractError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limits.max_file_bytes {
        return Err(ExtractError::TooLarge {
            path: path.to_owned(),
            size,
            limit: limits.max_file_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    extract_bytes(path, format, &bytes)
}

/// Extracts text from bytes already in memory; `path` only names the file in errors.
pub fn extract_bytes(path: &Path, format: Format, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    if bytes.is_empty() {
        return Err(ExtractError::Empty {
            path: path.to_owned(),
        });
    }
    let decoded = text::decode(path, bytes)?;
    let text = match format {
        Format::Text => text::normalize_newlines(&decoded.text),
        Format::Markdown => markdown::to_plain_text(&decoded.text),
    };
    Ok(Extracted {
        format,
        encoding: Some(decoded.encoding),
        text,
        pages: Vec::new(),
        warnings: decoded.warnings,
    })
}
