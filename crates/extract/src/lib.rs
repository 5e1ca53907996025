//! lexinaut-extract: turns one file into plain text with page boundaries.
//! Pure and synchronous: it reads only the file it is given and never touches the network.

mod builder;
mod formats;
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
    /// Comma-separated values (`.csv`), any common encoding.
    Csv,
    /// Web page (`.html`, `.htm`).
    Html,
    /// PDF, per page.
    Pdf,
    /// Word 2007+ (`.docx`).
    Docx,
    /// Word 97-2003 (`.doc`, OLE2).
    Doc,
    /// OpenDocument text (`.odt`).
    Odt,
    /// PowerPoint 2007+ (`.pptx`), per slide.
    Pptx,
    /// PowerPoint 97-2003 (`.ppt`, OLE2), per slide.
    Ppt,
    /// Excel 2007+ (`.xlsx`, `.xlsm`), per sheet.
    Xlsx,
    /// Excel 97-2003 (`.xls`), per sheet.
    Xls,
    /// EPUB e-book, per chapter.
    Epub,
    /// E-mail message (`.eml`, RFC 5322 / MIME).
    Eml,
    /// Evernote export (`.enex`), per note.
    Enex,
}

impl Format {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [Format; 15] = [
        Self::Csv,
        Self::Doc,
        Self::Docx,
        Self::Enex,
        Self::Eml,
        Self::Epub,
        Self::Html,
        Self::Markdown,
        Self::Odt,
        Self::Pdf,
        Self::Ppt,
        Self::Pptx,
        Self::Text,
        Self::Xls,
        Self::Xlsx,
    ];

    /// The format a path's extension names, if LexiNaut reads it.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => Self::Text,
            "md" | "markdown" => Self::Markdown,
            "csv" => Self::Csv,
            "html" | "htm" | "xhtml" => Self::Html,
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            "doc" => Self::Doc,
            "odt" => Self::Odt,
            "pptx" => Self::Pptx,
            "ppt" => Self::Ppt,
            "xlsx" | "xlsm" => Self::Xlsx,
            "xls" => Self::Xls,
            "epub" => Self::Epub,
            "eml" => Self::Eml,
            "enex" => Self::Enex,
            _ => return None,
        })
    }

    /// The lowercase name used in the catalogue and in JSON (`docx`, `pdf`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Csv => "csv",
            Self::Html => "html",
            Self::Pdf => "pdf",
            Self::Docx => "docx",
            Self::Doc => "doc",
            Self::Odt => "odt",
            Self::Pptx => "pptx",
            Self::Ppt => "ppt",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
            Self::Epub => "epub",
            Self::Eml => "eml",
            Self::Enex => "enex",
        }
    }
}

/// One page (slide, sheet, chapter, note) of the extracted text, as a half-open range of
/// character offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageSpan {
    /// 1-based page, slide, sheet, chapter or note number.
    pub number: u32,
    /// A name for it where the format has one: sheet name, chapter or note title.
    pub label: Option<String>,
    /// Offset of the page's first character in [`Extracted::text`], in Unicode scalar values.
    pub start: usize,
    /// Offset one past the page's last character.
    pub end: usize,
}

/// A heading in the extracted text, for heading paths of chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heading {
    /// 1 = top level.
    pub level: u8,
    /// The heading's text.
    pub title: String,
    /// Offset of its first character in [`Extracted::text`].
    pub start: usize,
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
    /// Headings in order of appearance (DOCX/ODT/Markdown/HTML headings, slide titles, ...).
    pub headings: Vec<Heading>,
    /// The document's own title, where the format records one.
    pub title: Option<String>,
    /// Character spans of table rows (sheet rows, CSV records, document tables): a chunk
    /// boundary should not fall inside one.
    pub table_rows: Vec<(usize, usize)>,
    /// Pages with no usable text layer (scanned images, garbage text): they need OCR.
    pub pages_needing_ocr: Vec<u32>,
    /// Things the user should know, e.g. a low-confidence encoding guess.
    pub warnings: Vec<String>,
}

impl Extracted {
    /// The heading path (outermost first) in force at character offset `at`.
    pub fn heading_path(&self, at: usize) -> Vec<&str> {
        let mut path: Vec<&Heading> = Vec::new();
        for h in self.headings.iter().take_while(|h| h.start <= at) {
            while path.last().is_some_and(|p| p.level >= h.level) {
                path.pop();
            }
            path.push(h);
        }
        path.into_iter().map(|h| h.title.as_str()).collect()
    }

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
    /// Most bytes any one archive member (zip-based formats) may inflate to.
    pub max_entry_bytes: u64,
    /// Most bytes all members of one archive together may inflate to.
    pub max_inflated_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 200 * 1024 * 1024,
            max_entry_bytes: 64 * 1024 * 1024,
            max_inflated_bytes: 256 * 1024 * 1024,
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
    /// The file is damaged or is not what its extension says.
    #[error("{path}: damaged or not a valid {format} file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The format its extension names.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The file is encrypted or password-protected.
    #[error("{path}: password-protected; remove the password and import it again")]
    Encrypted {
        /// The file.
        path: PathBuf,
    },
    /// An archive member would inflate past the limits: a possible zip bomb.
    #[error(
        "{path}: {member} would inflate to more than {limit} bytes; refused as a possible zip bomb"
    )]
    Inflation {
        /// The file.
        path: PathBuf,
        /// The archive member.
        member: String,
        /// The limit that would be exceeded.
        limit: u64,
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
            | Self::Binary { path }
            | Self::Corrupt { path, .. }
            | Self::Encrypted { path }
            | Self::Inflation { path, .. } => path,
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
    extract_bytes_with(path, format, &bytes, limits)
}

/// Extracts text from bytes already in memory; `path` only names the file in errors.
pub fn extract_bytes(path: &Path, format: Format, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    extract_bytes_with(path, format, bytes, &Limits::default())
}

/// [`extract_bytes`] with explicit limits.
pub fn extract_bytes_with(
    path: &Path,
    format: Format,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    if bytes.is_empty() {
        return Err(ExtractError::Empty {
            path: path.to_owned(),
        });
    }
    let src = Source {
        path,
        bytes,
        limits,
        format,
    };
    match format {
        Format::Text => text::extract(&src),
        Format::Markdown => markdown::extract(&src),
        Format::Csv => formats::csv::extract(&src),
        Format::Html => formats::html::extract(&src),
        Format::Pdf => formats::pdf::extract(&src),
        Format::Docx => formats::docx::extract(&src),
        Format::Doc => formats::doc::extract(&src),
        Format::Odt => formats::odt::extract(&src),
        Format::Pptx => formats::pptx::extract(&src),
        Format::Ppt => formats::ppt::extract(&src),
        Format::Xlsx | Format::Xls => formats::spreadsheet::extract(&src),
        Format::Epub => formats::epub::extract(&src),
        Format::Eml => formats::eml::extract(&src),
        Format::Enex => formats::enex::extract(&src),
    }
}

/// One file's bytes and what a reader needs to know about them.
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub bytes: &'a [u8],
    pub limits: &'a Limits,
    pub format: Format,
}

impl Source<'_> {
    /// A `Corrupt` error for this file.
    pub(crate) fn corrupt(&self, reason: impl std::fmt::Display) -> ExtractError {
        ExtractError::Corrupt {
            path: self.path.to_owned(),
            format: self.format.name(),
            reason: reason.to_string(),
        }
    }

    /// An `Extracted` from a finished builder, with no encoding, title or warnings yet.
    pub(crate) fn extracted(&self, builder: builder::TextBuilder) -> Extracted {
        let table_rows = builder.table_rows();
        let (text, pages, headings) = builder.finish();
        Extracted {
            format: self.format,
            encoding: None,
            text,
            pages,
            headings,
            table_rows,
            title: None,
            pages_needing_ocr: Vec::new(),
            warnings: Vec::new(),
        }
    }
}
