//! Zip-based formats (DOCX, PPTX, XLSX, ODT, EPUB): opening an archive with zip-bomb checks,
//! bounded member reads, and the XML, relationship and table helpers their readers share.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use zip::result::ZipError;
use zip::ZipArchive;

use crate::builder::TextBuilder;
use crate::{ExtractError, Format, Source};

/// Members larger than this must not compress better than [`MAX_RATIO`]:1. Small members may
/// (a page of spaces compresses 1000:1), and refusing them would only break honest files.
const RATIO_FLOOR_BYTES: u64 = 1024 * 1024;
/// Real office XML compresses 5-30:1; a zip bomb compresses hundreds or thousands to one.
const MAX_RATIO: u64 = 100;
/// The first read of a member reserves at most this much, whatever its header declares.
const PREALLOC_CAP: u64 = 4 * 1024 * 1024;
/// The signature of an OLE2 compound file (Office 97-2003 files, and encrypted OOXML).
pub(crate) const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// What an OLE2 compound file that was expected to be a zip-based Office file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OleContent {
    /// An encrypted (password-protected) or rights-managed OOXML package.
    Encrypted,
    /// An ordinary Office 97-2003 file (.doc, .xls, .ppt) under a newer extension.
    Legacy,
}

/// Classifies an OLE2 file: OOXML encryption (MS-OFFCRYPTO) wraps the package in a compound
/// file with `EncryptionInfo` and `EncryptedPackage` streams. A compound file that cannot be
/// parsed is reported as encrypted, since that is what an OLE2 `.docx` almost always is.
pub(crate) fn ole_content(bytes: &[u8]) -> OleContent {
    // cfb parses untrusted sector chains; a panic there must not escape a reader.
    let classify = || match cfb::CompoundFile::open(Cursor::new(bytes)) {
        Ok(file) => {
            let encrypted = ["/EncryptionInfo", "/EncryptedPackage", "/\u{6}DataSpaces"]
                .iter()
                .any(|stream| file.exists(stream));
            if encrypted {
                OleContent::Encrypted
            } else {
                OleContent::Legacy
            }
        }
        Err(_) => OleContent::Encrypted,
    };
    std::panic::catch_unwind(classify).unwrap_or(OleContent::Encrypted)
}

/// Refuses an archive whose central directory promises a zip bomb, before anything is inflated:
/// a member larger than [`crate::Limits::max_entry_bytes`], a large member compressed more than
/// [`MAX_RATIO`]:1, or members that together exceed [`crate::Limits::max_inflated_bytes`].
pub(crate) fn check_members<R: Read + std::io::Seek>(
    src: &Source<'_>,
    zip: &ZipArchive<R>,
) -> Result<(), ExtractError> {
    let limits = src.limits;
    let mut total: u64 = 0;
    for index in 0..zip.len() {
        let entry = zip
            .by_index_data(index)
            .map_err(|e| src.corrupt(format!("zip entry {index}: {e}")))?;
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let size = entry.size();
        let packed = entry.compressed_size();
        let refuse = |limit: u64| ExtractError::Inflation {
            path: src.path.to_owned(),
            member: name.clone(),
            limit,
        };
        if size > limits.max_entry_bytes {
            return Err(refuse(limits.max_entry_bytes));
        }
        let ratio_bound = packed.saturating_mul(MAX_RATIO).max(RATIO_FLOOR_BYTES);
        if size > ratio_bound {
            return Err(refuse(ratio_bound));
        }
        total = total.saturating_add(size);
        if total > limits.max_inflated_bytes {
            return Err(refuse(limits.max_inflated_bytes));
        }
    }
    Ok(())
}

/// A zip archive held in memory whose members are read within the file's limits.
pub(crate) struct Archive<'a> {
    src: &'a Source<'a>,
    zip: ZipArchive<Cursor<&'a [u8]>>,
    /// Bytes that may still be inflated from this archive, over all reads.
    budget: u64,
    /// Lower-cased member names, built on the first lookup that misses by exact name.
    folded: OnceCell<HashMap<String, usize>>,
}

impl<'a> Archive<'a> {
    /// Opens `src` as a zip archive and checks its directory with [`check_members`]. An OLE2
    /// file under an OOXML name is reported as encrypted or as the older format it is.
    pub(crate) fn open(src: &'a Source<'a>) -> Result<Self, ExtractError> {
        if src.bytes.starts_with(&OLE_MAGIC) {
            let legacy = match src.format {
                Format::Docx => ".doc",
                Format::Pptx => ".ppt",
                Format::Xlsx => ".xls",
                _ => return Err(src.corrupt("an OLE2 compound file, not a zip archive")),
            };
            return Err(match ole_content(src.bytes) {
                OleContent::Encrypted => ExtractError::Encrypted {
                    path: src.path.to_owned(),
                },
                OleContent::Legacy => src.corrupt(format!(
                    "an Office 97-2003 file, not a zip package; rename it to {legacy}"
                )),
            });
        }
        let zip = ZipArchive::new(Cursor::new(src.bytes))
            .map_err(|e| src.corrupt(format!("not a zip archive ({e})")))?;
        check_members(src, &zip)?;
        Ok(Self {
            src,
            zip,
            budget: src.limits.max_inflated_bytes,
            folded: OnceCell::new(),
        })
    }

    /// The member names, in directory order.
    pub(crate) fn names(&self) -> Vec<String> {
        (0..self.zip.len())
            .filter_map(|i| self.zip.name_for_index(i)?.ok().map(Cow::into_owned))
            .collect()
    }

    /// The index of member `name`; part names compare case-insensitively, as OPC requires.
    fn index_of(&self, name: &str) -> Option<usize> {
        let name = name.trim_start_matches('/');
        self.zip.index_for_name(name).or_else(|| {
            let folded = self.folded.get_or_init(|| {
                let mut folded = HashMap::new();
                for i in 0..self.zip.len() {
                    if let Some(Ok(n)) = self.zip.name_for_index(i) {
                        folded.entry(n.to_ascii_lowercase()).or_insert(i);
                    }
                }
                folded
            });
            folded.get(&name.to_ascii_lowercase()).copied()
        })
    }

    /// Whether the archive has member `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// The size member `name` declares in the directory (already checked against the limits).
    pub(crate) fn declared_size(&self, name: &str) -> Option<u64> {
        let index = self.index_of(name)?;
        self.zip.by_index_data(index).ok().map(|e| e.size())
    }

    /// At most the first `max` bytes of member `name`, for sniffing a header cheaply.
    pub(crate) fn read_head(
        &mut self,
        name: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(index) = self.index_of(name) else {
            return Ok(None);
        };
        let src = self.src;
        let mut file = self
            .zip
            .by_index(index)
            .map_err(|e| src.corrupt(format!("{name}: {e}")))?;
        let mut bytes = Vec::new();
        (&mut file)
            .take(max)
            .read_to_end(&mut bytes)
            .map_err(|e| src.corrupt(format!("{name}: {e}")))?;
        Ok(Some(bytes))
    }

    /// The bytes of member `name`, or `None` if there is no such member. Reads at most one
    /// byte past the limit, so a header that understates the size cannot inflate past it.
    pub(crate) fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
        let Some(index) = self.index_of(name) else {
            return Ok(None);
        };
        let src = self.src;
        let limit = src.limits.max_entry_bytes.min(self.budget);
        let zip_error = |e: ZipError| match e {
            ZipError::UnsupportedArchive(msg) if msg == ZipError::PASSWORD_REQUIRED => {
                ExtractError::Encrypted {
                    path: src.path.to_owned(),
                }
            }
            e => src.corrupt(format!("{name}: {e}")),
        };
        let mut file = self.zip.by_index(index).map_err(zip_error)?;
        let reserve = file.size().min(limit).min(PREALLOC_CAP);
        let mut bytes = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
        (&mut file)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| src.corrupt(format!("{name}: {e}")))?;
        let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if read > limit {
            return Err(ExtractError::Inflation {
                path: src.path.to_owned(),
                member: name.to_owned(),
                limit,
            });
        }
        self.budget = self.budget.saturating_sub(read);
        Ok(Some(bytes))
    }

    /// Member `name` decoded as XML text (see [`decode_xml`]), or `None` if it is missing.
    pub(crate) fn read_xml(&mut self, name: &str) -> Result<Option<String>, ExtractError> {
        Ok(self.read(name)?.map(decode_xml))
    }

    /// The file being read, for errors.
    pub(crate) fn source(&self) -> &'a Source<'a> {
        self.src
    }

    /// A `Corrupt` error for an XML part that does not parse.
    pub(crate) fn xml_error(&self, part: &str, error: impl std::fmt::Display) -> ExtractError {
        self.src.corrupt(format!("{part}: {error}"))
    }
}

// ---------------------------------------------------------------------------------------------
// XML

/// Bytes of an XML part as text: a BOM or the declaration's `encoding` picks the decoder
/// (UTF-16 parts exist in the wild); otherwise UTF-8, invalid bytes replaced.
pub(crate) fn decode_xml(bytes: Vec<u8>) -> String {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(&bytes) {
        let body = bytes.get(bom_len..).unwrap_or_default();
        return encoding.decode_without_bom_handling(body).0.into_owned();
    }
    match bytes.get(..2) {
        Some([b'<', 0]) => {
            return encoding_rs::UTF_16LE
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned()
        }
        Some([0, b'<']) => {
            return encoding_rs::UTF_16BE
                .decode_without_bom_handling(&bytes)
                .0
                .into_owned()
        }
        _ => {}
    }
    if let Some(encoding) = declared_encoding(&bytes) {
        // A declaration readable as ASCII cannot be telling the truth about UTF-16.
        if encoding != encoding_rs::UTF_8 && encoding.is_ascii_compatible() {
            return encoding.decode_without_bom_handling(&bytes).0.into_owned();
        }
    }
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The encoding named by an `<?xml ... encoding="..."?>` declaration, if it names a known one.
fn declared_encoding(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let head = bytes.get(..bytes.len().min(256))?;
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(head.get(..end)?).ok()?;
    let rest = &decl[decl.find("encoding")? + "encoding".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = rest.get(1..)?.split(quote).next()?;
    encoding_rs::Encoding::for_label(value.trim().as_bytes())
}

/// A reader over one XML part. `lenient` tolerates mismatched end tags and stray `&`, as
/// hand-made EPUB XHTML needs; OOXML and ODF parts are machine-written and parsed strictly.
pub(crate) fn xml_reader(xml: &str, lenient: bool) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.check_end_names = !lenient;
    config.allow_unmatched_ends = lenient;
    config.allow_dangling_amp = lenient;
    reader
}

/// Skips the element `start` opened, with everything inside it.
pub(crate) fn skip_element(
    reader: &mut Reader<&[u8]>,
    start: &BytesStart<'_>,
) -> Result<(), quick_xml::Error> {
    reader.read_to_end(start.name()).map(|_| ())
}

/// The value of the attribute whose local name (prefix ignored) is `local`.
pub(crate) fn attr(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .map(|a| match a.normalized_value(XmlVersion::Implicit1_0) {
            Ok(value) => value.into_owned(),
            Err(_) => a.value.into_owned(),
        })
}

/// Appends what an entity or character reference stands for: XML's five, character references
/// and the HTML entities common in EPUB XHTML. Unknown references are dropped.
pub(crate) fn push_entity(out: &mut String, reference: &BytesRef<'_>) {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        out.push(c);
        return;
    }
    let name: &str = reference;
    if let Some(text) = quick_xml::escape::resolve_predefined_entity(name) {
        out.push_str(text);
        return;
    }
    let c = match name {
        "nbsp" => '\u{a0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "shy" => return,
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "middot" => '·',
        "bull" => '•',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "times" => '×',
        "divide" => '÷',
        "yen" => '¥',
        "euro" => '€',
        "pound" => '£',
        "sect" => '§',
        "para" => '¶',
        _ => return,
    };
    out.push(c);
}

/// Appends `text` with runs of whitespace collapsed to one space, as HTML and ODF lay text out.
pub(crate) fn push_collapsed(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !out.is_empty() && !out.ends_with(char::is_whitespace) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

/// The text of the first element whose local name is `local`, trimmed; `None` if absent or
/// empty. Used for titles in metadata parts (`dc:title`).
pub(crate) fn first_element_text(xml: &str, local: &str) -> Option<String> {
    let mut reader = xml_reader(xml, true);
    let mut text: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if text.is_none() && e.local_name().as_ref() == local => {
                text = Some(String::new());
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == local => {
                if let Some(found) = text.take() {
                    let found = found.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !found.is_empty() {
                        return Some(found);
                    }
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(buf) = text.as_mut() {
                    buf.push_str(&t.xml10_content());
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(buf) = text.as_mut() {
                    buf.push_str(&t.xml10_content());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let Some(buf) = text.as_mut() {
                    push_entity(buf, &r);
                }
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Part names and OPC relationships

/// Resolves a relative reference (a relationship target, an OPF `href`) against the folder
/// `base_dir` (`""` or ending in `/`) to an archive member name: fragment dropped,
/// percent-escapes decoded, `.` and `..` segments applied (never above the root).
pub(crate) fn resolve_part(base_dir: &str, target: &str) -> String {
    let target = target.split('#').next().unwrap_or_default();
    let target = percent_decode(target);
    let joined = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None => format!("{base_dir}{target}"),
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    segments.join("/")
}

/// The folder part of a member name, with its trailing `/` (`""` at the root).
pub(crate) fn parent_dir(part: &str) -> &str {
    match part.rfind('/') {
        Some(i) => &part[..=i],
        None => "",
    }
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One OPC relationship of a part, its target resolved to a member name.
#[derive(Debug, Clone)]
pub(crate) struct Relationship {
    pub id: String,
    /// The relationship type URI; compare its last segment (`.../officeDocument`).
    pub kind: String,
    pub target: String,
}

impl Relationship {
    /// Whether the type URI ends with `/{name}` (`officeDocument`, `slide`, `notesSlide`...).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.kind.rsplit('/').next() == Some(name)
    }
}

/// The internal relationships of `part` (`""` for the package itself), from its `.rels` part.
/// A missing `.rels` part means no relationships.
pub(crate) fn relationships(
    archive: &mut Archive<'_>,
    part: &str,
) -> Result<Vec<Relationship>, ExtractError> {
    let dir = parent_dir(part);
    let file = &part[dir.len()..];
    let rels_part = format!("{dir}_rels/{file}.rels");
    let Some(xml) = archive.read_xml(&rels_part)? else {
        return Ok(Vec::new());
    };
    let mut reader = xml_reader(&xml, false);
    let mut found = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "Relationship" => {
                let external = attr(&e, "TargetMode").is_some_and(|m| m == "External");
                if let (false, Some(id), Some(kind), Some(target)) = (
                    external,
                    attr(&e, "Id"),
                    attr(&e, "Type"),
                    attr(&e, "Target"),
                ) {
                    found.push(Relationship {
                        id,
                        kind,
                        target: resolve_part(dir, &target),
                    });
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(archive.xml_error(&rels_part, e)),
        }
    }
    Ok(found)
}

/// The package's main part: the target of the root `officeDocument` relationship, or
/// `fallback` when the package has no such relationship. `None` if that part is missing.
pub(crate) fn main_part(
    archive: &mut Archive<'_>,
    fallback: &str,
) -> Result<Option<String>, ExtractError> {
    let root = relationships(archive, "")?;
    let part = root
        .iter()
        .find(|r| r.is("officeDocument"))
        .map(|r| r.target.clone())
        .filter(|p| archive.contains(p))
        .unwrap_or_else(|| fallback.to_owned());
    Ok(archive.contains(&part).then_some(part))
}

/// The `dc:title` of an OOXML package's core properties (`docProps/core.xml`).
pub(crate) fn core_title(archive: &mut Archive<'_>) -> Result<Option<String>, ExtractError> {
    let root = relationships(archive, "")?;
    let part = root
        .iter()
        .find(|r| r.is("core-properties"))
        .map(|r| r.target.clone())
        .unwrap_or_else(|| "docProps/core.xml".to_owned());
    Ok(archive
        .read_xml(&part)?
        .and_then(|xml| first_element_text(&xml, "title")))
}

// ---------------------------------------------------------------------------------------------
// Tables

/// A table as the readers collect it: rows of cells placed by column, so merged, spanned and
/// repeated cells keep later cells under the right header without materializing empty ones.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<Row>,
}

#[derive(Debug, Default)]
struct Row {
    cells: Vec<(u32, String)>,
    next_col: u32,
}

impl Table {
    /// Starts a new row.
    pub(crate) fn start_row(&mut self) {
        self.rows.push(Row::default());
    }

    fn current_row(&mut self) -> &mut Row {
        if self.rows.is_empty() {
            self.rows.push(Row::default());
        }
        let last = self.rows.len().saturating_sub(1);
        &mut self.rows[last]
    }

    /// Appends a cell spanning `span` columns (at least one) to the current row.
    pub(crate) fn push_cell(&mut self, text: String, span: u32) {
        let row = self.current_row();
        let col = row.next_col;
        row.next_col = col.saturating_add(span.max(1));
        if !text.trim().is_empty() {
            row.cells.push((col, text));
        }
    }

    /// Puts a cell at column `col` of the current row (spreadsheets know their positions).
    pub(crate) fn push_cell_at(&mut self, col: u32, text: String) {
        let row = self.current_row();
        row.next_col = row.next_col.max(col.saturating_add(1));
        if !text.trim().is_empty() {
            row.cells.push((col, text));
        }
    }

    /// Writes the table: the first non-empty row as a header line (`地区 | Region`), then one
    /// line per row with each cell labelled by its column's header (`地区: 华东 | Region: ...`).
    pub(crate) fn render(&self, out: &mut TextBuilder) {
        let mut rows = self.rows.iter().filter(|r| !r.cells.is_empty());
        let Some(header_row) = rows.next() else {
            return;
        };
        let headers: BTreeMap<u32, String> = header_row
            .cells
            .iter()
            .map(|(col, text)| (*col, one_line(text)))
            .collect();
        let header_line = headers
            .values()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" | ");
        out.push_block(&header_line);
        for row in rows {
            let (names, cells): (Vec<String>, Vec<String>) = row
                .cells
                .iter()
                .map(|(col, text)| (headers.get(col).cloned().unwrap_or_default(), text.clone()))
                .unzip();
            out.table_row(&names, &cells);
        }
    }

    /// The table as plain lines (cells joined by ` | `), for a table nested in another's cell.
    pub(crate) fn to_plain(&self) -> String {
        self.rows
            .iter()
            .filter(|r| !r.cells.is_empty())
            .map(|r| {
                r.cells
                    .iter()
                    .map(|(_, text)| one_line(text))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `text` on one line, whitespace runs collapsed.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Appends `text` to a cell or paragraph buffer on a new line.
/// A table being read from a word-processing document: its rows so far, the cell that is open,
/// and how many columns that cell covers (DOCX `gridSpan`, ODT `number-columns-repeated`).
#[derive(Default)]
pub(crate) struct OpenTable {
    pub table: Table,
    pub cell: Option<String>,
    pub span: u32,
}

/// Closes the open cell of the innermost table.
pub(crate) fn close_cell(tables: &mut [OpenTable]) {
    if let Some(open) = tables.last_mut() {
        let text = open.cell.take().unwrap_or_default();
        let span = open.span;
        open.table.push_cell(text, span);
    }
}

/// Closes the innermost table: a nested table becomes text of its outer cell, an outermost
/// one is rendered row by row.
pub(crate) fn close_table(tables: &mut Vec<OpenTable>, out: &mut TextBuilder) {
    if let Some(done) = tables.pop() {
        match tables.last_mut().and_then(|outer| outer.cell.as_mut()) {
            Some(cell) => push_paragraph(cell, &done.table.to_plain()),
            None => done.table.render(out),
        }
    }
}

pub(crate) fn push_paragraph(buf: &mut String, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if !buf.is_empty() {
        buf.push('\n');
    }
    buf.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in members {
            writer.start_file(*name, options).expect("start member");
            writer.write_all(bytes).expect("write member");
        }
        writer.finish().expect("finish zip").into_inner()
    }

    fn source<'a>(bytes: &'a [u8], limits: &'a crate::Limits) -> Source<'a> {
        Source {
            path: std::path::Path::new("t.docx"),
            bytes,
            limits,
            format: Format::Docx,
        }
    }

    #[test]
    fn members_are_found_case_insensitively_and_charged_to_the_budget() {
        let bytes = zip_of(&[("Word/Document.XML", b"<w/>"), ("a.txt", &[b'x'; 300])]);
        let limits = crate::Limits {
            max_inflated_bytes: 400,
            ..crate::Limits::default()
        };
        let src = source(&bytes, &limits);
        let mut archive = Archive::open(&src).expect("opens");
        assert!(archive.contains("/word/document.xml"));
        assert_eq!(
            archive
                .read_xml("word/document.xml")
                .expect("reads")
                .as_deref(),
            Some("<w/>")
        );
        assert_eq!(archive.read("missing.xml").expect("no error"), None);
        assert!(archive.read("a.txt").expect("within budget").is_some());
        // The budget is spent: a second read of the same member would pass 400 bytes.
        let err = archive.read("a.txt").err();
        assert!(
            matches!(err, Some(ExtractError::Inflation { limit: 96, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_large_member_compressed_past_the_ratio_is_refused() {
        let zeros = vec![0u8; 2 * 1024 * 1024];
        let bytes = zip_of(&[("word/document.xml", &zeros)]);
        let limits = crate::Limits::default();
        let src = source(&bytes, &limits);
        let err = Archive::open(&src).err();
        assert!(
            matches!(&err, Some(ExtractError::Inflation { member, .. }) if member == "word/document.xml"),
            "{err:?}"
        );
    }

    #[test]
    fn parts_resolve_relative_to_their_folder() {
        assert_eq!(
            resolve_part("ppt/slides/", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(resolve_part("word/", "/word/styles.xml"), "word/styles.xml");
        assert_eq!(
            resolve_part("OEBPS/", "Text/chap%201.xhtml#s2"),
            "OEBPS/Text/chap 1.xhtml"
        );
        assert_eq!(resolve_part("", "../../../etc/passwd"), "etc/passwd");
        assert_eq!(parent_dir("ppt/presentation.xml"), "ppt/");
        assert_eq!(parent_dir("content.opf"), "");
    }

    #[test]
    fn percent_decoding_tolerates_bad_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%E4%B8%AD%zz"), "中%zz");
    }

    #[test]
    fn xml_declaration_picks_the_decoder() {
        let (gbk, _, _) =
            encoding_rs::GBK.encode("<?xml version=\"1.0\" encoding=\"GBK\"?><t>中文</t>");
        assert_eq!(
            decode_xml(gbk.into_owned()),
            "<?xml version=\"1.0\" encoding=\"GBK\"?><t>中文</t>"
        );
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "<t>中</t>".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(decode_xml(utf16), "<t>中</t>");
        assert_eq!(decode_xml(b"<t>\xff</t>".to_vec()), "<t>\u{fffd}</t>");
    }

    #[test]
    fn entities_and_titles() {
        let xml =
            "<m><dc:title> A &amp; B&#x4E2D;&nbsp;&unknown; </dc:title><dc:title>2</dc:title></m>";
        assert_eq!(first_element_text(xml, "title").as_deref(), Some("A & B中"));
        assert_eq!(first_element_text("<m><title/></m>", "title"), None);
        assert_eq!(first_element_text("<m><title>", "title"), None);
    }

    #[test]
    fn tables_label_cells_with_their_headers() {
        let mut t = Table::default();
        t.start_row();
        t.push_cell("名称".into(), 1);
        t.push_cell("数量".into(), 2);
        t.push_cell("备注".into(), 1);
        t.start_row();
        t.push_cell("苹果".into(), 1);
        t.push_cell("3".into(), 1);
        t.push_cell(String::new(), 1);
        t.push_cell("红".into(), 1);
        let mut b = TextBuilder::new();
        t.render(&mut b);
        let (text, _, _) = b.finish();
        assert_eq!(text, "名称 | 数量 | 备注\n名称: 苹果 | 数量: 3 | 备注: 红");
        assert_eq!(t.to_plain(), "名称 | 数量 | 备注\n苹果 | 3 | 红");
    }

    #[test]
    fn sparse_columns_cost_nothing() {
        let mut t = Table::default();
        t.start_row();
        t.push_cell_at(0, "A".into());
        t.push_cell_at(u32::MAX, "Z".into());
        t.start_row();
        t.push_cell_at(u32::MAX, "z".into());
        t.start_row();
        t.push_cell(String::new(), u32::MAX);
        t.push_cell("far".into(), 1);
        let mut b = TextBuilder::new();
        t.render(&mut b);
        let (text, _, _) = b.finish();
        assert_eq!(text, "A | Z\nZ: z\nZ: far");
    }
}
