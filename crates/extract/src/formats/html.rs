//! HTML pages: charset detection (BOM, `<meta>`, UTF-8, guess) and the visible text of `<body>`
//! with headings, blocks and labelled table rows; the converter is shared by ENEX, EML and EPUB.

use std::path::Path;

use encoding_rs::Encoding;
use scraper::{ElementRef, Html, Node};

use crate::builder::{table_row_text, TextBuilder};
use crate::text::{self, Decoded};
use crate::{ExtractError, Extracted, Source};

/// How many leading bytes are searched for a charset declaration, as browsers do (HTML's
/// "prescan a byte stream" looks at the first 1024; saved pages often have long heads).
const PRESCAN_BYTES: usize = 4096;

/// Header cells longer than this are not column names but content (a layout table's first
/// row, say): rows are then not labelled with them.
const MAX_HEADER_CHARS: usize = 80;

/// An HTML file: decoded, title recorded, visible body text with structure.
pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let decoded = decode_html(src.path, src.bytes)?;
    let document = HtmlDocument::parse(&decoded.text);
    let title = document.title();
    let mut builder = TextBuilder::new();
    // The title often repeats the first heading; only add it when the body does not start with
    // it, so that a page whose title says something the body does not is still found by it.
    if let Some(title) = &title {
        let wanted = squash(title);
        let prefix = document.visible_prefix(wanted.chars().count());
        if prefix != wanted {
            builder.heading(1, title);
        }
    }
    document.write_body(&mut builder, 0);
    let mut extracted = src.extracted(builder);
    extracted.encoding = Some(decoded.encoding);
    extracted.warnings = decoded.warnings;
    extracted.title = title;
    Ok(extracted)
}

/// Writes the visible text of an HTML document or fragment (`<body>`, else the whole
/// document) into `builder`, for HTML nested under a heading of the outer document (a note's
/// title, an attachment's name): heading levels are shifted down by `heading_offset`.
pub(crate) fn html_to_builder_under(html: &str, builder: &mut TextBuilder, heading_offset: u8) {
    HtmlDocument::parse(html).write_body(builder, heading_offset);
}

/// Decodes the bytes of an HTML file: a BOM wins, then a charset declared in the first bytes
/// (`<meta charset>`, `<meta http-equiv="Content-Type" content="...; charset=...">`, or an XML
/// declaration), then UTF-8 if the bytes are valid UTF-8, then a statistical guess.
pub(crate) fn decode_html(path: &Path, bytes: &[u8]) -> Result<Decoded, ExtractError> {
    if Encoding::for_bom(bytes).is_some() {
        return text::decode(path, bytes);
    }
    let Some(declared) = prescan_charset(&bytes[..bytes.len().min(PRESCAN_BYTES)]) else {
        return text::decode(path, bytes);
    };
    let (decoded, had_errors) = declared.decode_without_bom_handling(bytes);
    if !had_errors {
        return Ok(Decoded {
            text: decoded.into_owned(),
            encoding: declared.name().to_owned(),
            warnings: Vec::new(),
        });
    }
    // Saved and re-encoded pages often keep a stale declaration: trust the bytes instead.
    let mut guessed = text::decode(path, bytes)?;
    guessed.warnings.insert(
        0,
        format!(
            "the page declares charset {} but is not valid {}; decoded as {}",
            declared.name(),
            declared.name(),
            guessed.encoding
        ),
    );
    Ok(guessed)
}

/// A parsed HTML document.
pub(crate) struct HtmlDocument {
    html: Html,
}

impl HtmlDocument {
    /// Parses a whole document; html5ever never fails, it repairs.
    pub(crate) fn parse(source: &str) -> Self {
        Self {
            html: Html::parse_document(source),
        }
    }

    /// The text of the first HTML `<title>` (not an SVG one), whitespace collapsed.
    pub(crate) fn title(&self) -> Option<String> {
        self.html
            .tree
            .root()
            .descendants()
            .filter_map(ElementRef::wrap)
            .find(|e| e.value().name() == "title" && is_html_namespace(e))
            .map(|e| collapse_whitespace(&e.text().collect::<String>()))
            .filter(|t| !t.is_empty())
    }

    /// Writes the visible text of `<body>` (the whole document if there is none) into `builder`;
    /// heading levels are shifted down by `heading_offset` (a note's `<h1>` under the note title).
    pub(crate) fn write_body(&self, builder: &mut TextBuilder, heading_offset: u8) {
        let Some(root) = self.content_root() else {
            return;
        };
        let mut writer = BlockWriter::new(builder, heading_offset);
        walk(root, |visit| writer.visit(visit));
        writer.finish();
    }

    /// The first `max_chars` non-whitespace characters of the visible body text.
    fn visible_prefix(&self, max_chars: usize) -> String {
        let mut prefix = String::new();
        let Some(root) = self.content_root() else {
            return prefix;
        };
        let mut count = 0;
        walk(root, |visit| match visit {
            Visit::Open(element) => count < max_chars && !is_hidden(element),
            Visit::Text(t) => {
                for c in t.chars().filter(|c| !c.is_whitespace()) {
                    if count == max_chars {
                        break;
                    }
                    prefix.push(c);
                    count += 1;
                }
                false
            }
            Visit::Close(_) => false,
        });
        prefix
    }

    /// `<body>`, or the root element when the document has none (framesets, fragments).
    fn content_root(&self) -> Option<ElementRef<'_>> {
        let root = self
            .html
            .tree
            .root()
            .children()
            .find_map(ElementRef::wrap)?;
        Some(
            root.child_elements()
                .find(|e| e.value().name() == "body")
                .unwrap_or(root),
        )
    }
}

/// One step of a document-order walk.
enum Visit<'a> {
    /// An element starts; the visitor answers whether to descend into it. Skipped elements get
    /// no `Close`.
    Open(ElementRef<'a>),
    /// An element that was descended into ends.
    Close(ElementRef<'a>),
    /// A text node.
    Text(&'a str),
}

/// Visits the descendants of `root` in document order without recursion, so that hostile,
/// deeply nested markup cannot overflow the stack.
fn walk<'a>(root: ElementRef<'a>, mut visit: impl FnMut(Visit<'a>) -> bool) {
    let Some(mut node) = root.first_child() else {
        return;
    };
    loop {
        let mut descend = false;
        match node.value() {
            Node::Element(_) => {
                if let Some(element) = ElementRef::wrap(node) {
                    descend = visit(Visit::Open(element));
                    if descend && !node.has_children() {
                        visit(Visit::Close(element));
                        descend = false;
                    }
                }
            }
            Node::Text(t) => {
                visit(Visit::Text(t));
            }
            _ => {}
        }
        if descend {
            if let Some(child) = node.first_child() {
                node = child;
                continue;
            }
        }
        // Next sibling, or climb, closing the elements left.
        loop {
            if let Some(sibling) = node.next_sibling() {
                node = sibling;
                break;
            }
            let Some(parent) = node.parent() else {
                return;
            };
            if parent.id() == root.id() {
                return;
            }
            if let Some(element) = ElementRef::wrap(parent) {
                visit(Visit::Close(element));
            }
            node = parent;
        }
    }
}

/// Elements whose content is never shown as text.
fn is_hidden(element: ElementRef<'_>) -> bool {
    let e = element.value();
    if matches!(
        e.name(),
        "script"
            | "style"
            | "noscript"
            | "template"
            | "head"
            | "title"
            | "svg"
            | "iframe"
            | "object"
            | "rp"
            | "rt"
            | "en-crypt"
            | "en-media"
    ) {
        return true;
    }
    e.attr("hidden").is_some()
        || e.attr("style").is_some_and(|style| {
            let style: String = style
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            style.contains("display:none")
        })
}

fn is_html_namespace(element: &ElementRef<'_>) -> bool {
    &*element.value().name.ns == "http://www.w3.org/1999/xhtml"
}

/// What separates the next text from what was written before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Separator {
    /// Nothing since the last text: it continues (only at the very start).
    None,
    /// A line break (`<br>`, list items, paragraphs inside list items).
    Line,
    /// A blank line (paragraphs, headings, tables).
    Block,
}

/// A data table being read: its column names and the row and cell under construction.
#[derive(Default)]
struct TableState {
    header: Option<Vec<String>>,
    row: Option<Vec<String>>,
    row_all_th: bool,
    cell: Option<String>,
    rows_written: usize,
}

/// Turns the walk's events into blocks, lines, headings and table rows.
struct BlockWriter<'b> {
    out: &'b mut TextBuilder,
    heading_offset: u8,
    /// Inline text of the current block, whitespace collapsed (except in `<pre>`).
    inline: String,
    separator: Separator,
    heading: Option<u8>,
    preformatted: usize,
    list_items: usize,
    /// Open tables, innermost last; `None` for a layout table (one holding other tables), whose
    /// cells are read as ordinary blocks.
    tables: Vec<Option<TableState>>,
}

impl<'b> BlockWriter<'b> {
    fn new(out: &'b mut TextBuilder, heading_offset: u8) -> Self {
        Self {
            out,
            heading_offset,
            inline: String::new(),
            separator: Separator::Block,
            heading: None,
            preformatted: 0,
            list_items: 0,
            tables: Vec::new(),
        }
    }

    fn visit(&mut self, visit: Visit<'_>) -> bool {
        match visit {
            Visit::Open(element) => {
                if is_hidden(element) {
                    return false;
                }
                self.open(element);
                true
            }
            Visit::Close(element) => {
                self.close(element);
                false
            }
            Visit::Text(t) => {
                self.text(t);
                false
            }
        }
    }

    fn open(&mut self, element: ElementRef<'_>) {
        let name = element.value().name();
        match name {
            "table" => {
                self.boundary(Separator::Block);
                let layout = element
                    .descendent_elements()
                    .skip(1)
                    .any(|e| e.value().name() == "table");
                self.tables.push((!layout).then(TableState::default));
            }
            "tr" if self.in_data_table() => {
                self.end_row();
                if let Some(Some(table)) = self.tables.last_mut() {
                    table.row = Some(Vec::new());
                    table.row_all_th = true;
                }
            }
            "td" | "th" if self.in_data_table() => {
                self.end_cell();
                if let Some(Some(table)) = self.tables.last_mut() {
                    table.row.get_or_insert_with(Vec::new);
                    table.row_all_th &= name == "th";
                    table.cell = Some(String::new());
                }
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.boundary(Separator::Block);
                if !self.in_cell() {
                    let level = name[1..].parse::<u8>().unwrap_or(1);
                    self.heading = Some(level.saturating_add(self.heading_offset));
                }
            }
            "li" | "dt" | "dd" => {
                self.boundary(Separator::Line);
                self.list_items += 1;
            }
            "pre" | "textarea" | "listing" | "plaintext" => {
                self.boundary(Separator::Block);
                self.preformatted += 1;
            }
            "br" => self.boundary(Separator::Line),
            _ if is_block(name) => self.boundary(Separator::Block),
            _ => {}
        }
    }

    fn close(&mut self, element: ElementRef<'_>) {
        let name = element.value().name();
        match name {
            "table" => {
                if self.in_data_table() {
                    self.end_row();
                }
                if let Some(Some(table)) = self.tables.pop() {
                    if table.rows_written > 0 {
                        self.separator = Separator::Block;
                    }
                }
                self.boundary(Separator::Block);
            }
            "tr" if self.in_data_table() => self.end_row(),
            "td" | "th" if self.in_data_table() => self.end_cell(),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.boundary(Separator::Block);
                self.heading = None;
            }
            "li" | "dt" | "dd" => {
                self.boundary(Separator::Line);
                self.list_items = self.list_items.saturating_sub(1);
            }
            "pre" | "textarea" | "listing" | "plaintext" => {
                self.boundary(Separator::Block);
                self.preformatted = self.preformatted.saturating_sub(1);
            }
            _ if is_block(name) => self.boundary(Separator::Block),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        let preformatted = self.preformatted > 0;
        let target = match self.tables.last_mut() {
            Some(Some(TableState {
                cell: Some(cell), ..
            })) => cell,
            _ => &mut self.inline,
        };
        if preformatted {
            target.push_str(&text::normalize_newlines(text));
        } else {
            push_collapsed(target, text);
        }
    }

    fn in_data_table(&self) -> bool {
        matches!(self.tables.last(), Some(Some(_)))
    }

    fn in_cell(&self) -> bool {
        matches!(
            self.tables.last(),
            Some(Some(TableState { cell: Some(_), .. }))
        )
    }

    /// A block or line boundary: writes the pending text and asks for (at least) `separator`
    /// before the next. Inside a table cell it is only a space; inside a list item, a line.
    fn boundary(&mut self, separator: Separator) {
        if let Some(Some(TableState {
            cell: Some(cell), ..
        })) = self.tables.last_mut()
        {
            if !cell.is_empty() && !cell.ends_with(char::is_whitespace) {
                cell.push(' ');
            }
            return;
        }
        self.flush();
        let separator = if self.list_items > 0 {
            separator.min(Separator::Line)
        } else {
            separator
        };
        self.separator = self.separator.max(separator);
    }

    /// Writes the pending inline text as a heading, block or line.
    fn flush(&mut self) {
        let pending = std::mem::take(&mut self.inline);
        let text = if self.preformatted > 0 {
            pending.trim_matches('\n').trim_end()
        } else {
            pending.trim()
        };
        if text.is_empty() {
            return;
        }
        if let Some(level) = self.heading {
            self.out.heading(level, &collapse_whitespace(text));
        } else if self.separator == Separator::Line {
            self.out.push_line(text);
        } else {
            self.out.push_block(text);
        }
        self.separator = Separator::None;
    }

    fn end_cell(&mut self) {
        if let Some(Some(table)) = self.tables.last_mut() {
            if let Some(cell) = table.cell.take() {
                table
                    .row
                    .get_or_insert_with(Vec::new)
                    .push(collapse_whitespace(&cell));
            }
        }
    }

    /// Writes the finished row: the first row (or a row of `<th>` cells) names the columns, the
    /// others are written with each cell labelled by its column name.
    fn end_row(&mut self) {
        self.end_cell();
        let Some(Some(table)) = self.tables.last_mut() else {
            return;
        };
        let Some(row) = table.row.take() else {
            return;
        };
        if row.iter().all(|c| c.is_empty()) {
            return;
        }
        let line = if table.header.is_none() || table.row_all_th {
            let names = row.iter().all(|c| c.chars().count() <= MAX_HEADER_CHARS);
            let line = table_row_text(&[], &row);
            table.header = Some(if names { row } else { Vec::new() });
            line
        } else {
            table_row_text(table.header.as_deref().unwrap_or_default(), &row)
        };
        let first = table.rows_written == 0;
        table.rows_written += 1;
        // Text before the table (a caption, say) ends here; rows then follow line by line.
        let pending = std::mem::take(&mut self.inline);
        let pending = pending.trim();
        if !pending.is_empty() {
            self.write_line_or_block(pending);
        }
        if first {
            self.write_line_or_block(&line);
        } else {
            self.out.push_line(&line);
        }
        self.separator = Separator::None;
    }

    fn write_line_or_block(&mut self, text: &str) {
        if self.separator == Separator::Line || self.list_items > 0 {
            self.out.push_line(text);
        } else {
            self.out.push_block(text);
        }
        self.separator = Separator::None;
    }

    fn finish(mut self) {
        while self.tables.last().is_some() {
            if self.in_data_table() {
                self.end_row();
            }
            self.tables.pop();
        }
        self.flush();
    }
}

/// Elements that start and end a block of text.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "en-note"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frameset"
            | "header"
            | "hgroup"
            | "hr"
            | "legend"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "option"
            | "p"
            | "section"
            | "summary"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Appends `text` with each whitespace run turned into one space (none at the start).
fn push_collapsed(target: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_whitespace() {
            if !target.is_empty() && !target.ends_with(char::is_whitespace) {
                target.push(' ');
            }
        } else {
            target.push(c);
        }
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The encoding an HTML file declares in its first bytes, if any (HTML's prescan, simplified:
/// comments are skipped, `<meta>` attributes read in any order, an XML declaration honoured).
fn prescan_charset(head: &[u8]) -> Option<&'static Encoding> {
    if head.starts_with(b"<?xml") {
        let end = find(head, b"?>").unwrap_or(head.len());
        let (attributes, _) = read_attributes(&head[..end], 5);
        if let Some(encoding) = attribute(&attributes, "encoding").and_then(encoding_for_label) {
            return Some(encoding);
        }
    }
    let mut i = 0;
    while i < head.len() {
        let rest = &head[i..];
        if rest.starts_with(b"<!--") {
            i = find(&rest[4..], b"-->").map_or(head.len(), |p| i + 4 + p + 3);
            continue;
        }
        let is_meta = rest.len() > 5
            && rest[..5].eq_ignore_ascii_case(b"<meta")
            && (rest[5].is_ascii_whitespace() || rest[5] == b'/');
        if is_meta {
            let (attributes, next) = read_attributes(head, i + 5);
            if let Some(encoding) = meta_charset(&attributes) {
                return Some(encoding);
            }
            i = next;
            continue;
        }
        i += 1;
    }
    None
}

fn meta_charset(attributes: &[(String, String)]) -> Option<&'static Encoding> {
    if let Some(label) = attribute(attributes, "charset") {
        return encoding_for_label(label);
    }
    let pragma = attribute(attributes, "http-equiv")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("content-type"));
    if !pragma {
        return None;
    }
    let content = attribute(attributes, "content")?.to_ascii_lowercase();
    let after = &content[content.find("charset")? + "charset".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let label = after
        .trim_start_matches(['"', '\''])
        .split(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace())
        .next()?;
    encoding_for_label(label)
}

/// The encoding a declared label names, as browsers map it: a UTF-16 label found by an ASCII
/// scan means UTF-8, and labels encoding_rs only knows as "replacement" are ignored.
fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(label.trim().as_bytes())?;
    if encoding == encoding_rs::UTF_16BE || encoding == encoding_rs::UTF_16LE {
        Some(encoding_rs::UTF_8)
    } else if encoding == encoding_rs::X_USER_DEFINED {
        Some(encoding_rs::WINDOWS_1252)
    } else if encoding == encoding_rs::REPLACEMENT {
        None
    } else {
        Some(encoding)
    }
}

fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads `name=value` pairs from `bytes[i..]` up to the tag's `>`; returns them (names
/// lowercased) and the position after the tag.
fn read_attributes(bytes: &[u8], mut i: usize) -> (Vec<(String, String)>, usize) {
    let is_space = |b: u8| b.is_ascii_whitespace();
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && (is_space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (attributes, bytes.len());
        }
        if bytes[i] == b'>' {
            return (attributes, i + 1);
        }
        let start = i;
        while i < bytes.len() && !is_space(bytes[i]) && !matches!(bytes[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        if i == start {
            // A stray `=`: step over it.
            i += 1;
            continue;
        }
        let name = String::from_utf8_lossy(&bytes[start..i]).to_ascii_lowercase();
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let mut value = &bytes[i..i];
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && is_space(bytes[i]) {
                i += 1;
            }
            if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
                let quote = bytes[i];
                i += 1;
                let begin = i;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                value = &bytes[begin..i];
                i = (i + 1).min(bytes.len());
            } else {
                let begin = i;
                while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'>' {
                    i += 1;
                }
                value = &bytes[begin..i];
            }
        }
        attributes.push((name, String::from_utf8_lossy(value).into_owned()));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(html: &str) -> (String, Vec<crate::Heading>) {
        let mut builder = TextBuilder::new();
        html_to_builder_under(html, &mut builder, 0);
        let (text, _, headings) = builder.finish();
        (text, headings)
    }

    #[test]
    fn blocks_lines_and_headings() {
        let (text, headings) = convert(
            "<body><h2>标题 <b>二</b></h2><p>第一段\n  继续。<br>下一行</p>\
             <ul><li>甲</li><li><div>乙</div></li></ul><p>后记</p></body>",
        );
        assert_eq!(text, "标题 二\n\n第一段 继续。\n下一行\n\n甲\n乙\n\n后记");
        assert_eq!(headings.len(), 1);
        assert_eq!(headings[0].level, 2);
        assert_eq!(headings[0].title, "标题 二");
    }

    #[test]
    fn tables_are_labelled_rows() {
        let (text, _) = convert(
            "<p>前文</p><table><tr><td>名称</td><td>数量</td></tr>\
             <tr><td>苹果</td><td><p>3</p></td></tr></table><p>后文</p>",
        );
        assert_eq!(text, "前文\n\n名称 | 数量\n名称: 苹果 | 数量: 3\n\n后文");
    }

    #[test]
    fn layout_tables_are_read_as_blocks() {
        let (text, _) = convert(
            "<table><tr><td><p>正文一</p><p>正文二</p></td><td>\
             <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>\
             </td></tr></table>",
        );
        assert_eq!(text, "正文一\n\n正文二\n\na | b\na: 1 | b: 2");
    }

    #[test]
    fn hidden_content_is_skipped() {
        let (text, _) = convert(
            "<body><p>看得见</p><p hidden>隐藏一</p><div style=\"display: none\">隐藏二</div>\
             <script>var x = 1;</script><noscript>no</noscript><svg><text>图</text></svg></body>",
        );
        assert_eq!(text, "看得见");
    }

    #[test]
    fn preformatted_text_keeps_its_lines() {
        let (text, _) = convert("<p>代码：</p><pre>fn main() {\n    run();\n}\n</pre>");
        assert_eq!(text, "代码：\n\nfn main() {\n    run();\n}");
    }

    #[test]
    fn prescan_reads_meta_declarations() {
        let gbk = prescan_charset(b"<html><head><meta charset=\"gbk\">");
        assert_eq!(gbk, Some(encoding_rs::GBK));
        let pragma = prescan_charset(
            b"<META CONTENT='text/html; charset=GB2312' HTTP-EQUIV='Content-Type'>",
        );
        assert_eq!(pragma, Some(encoding_rs::GBK));
        let commented = prescan_charset(b"<!-- <meta charset=big5> --><meta charset=utf-8>");
        assert_eq!(commented, Some(encoding_rs::UTF_8));
        let xml = prescan_charset(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><html>");
        assert_eq!(xml, Some(encoding_rs::SHIFT_JIS));
        assert_eq!(prescan_charset(b"<meta name=viewport content=x>"), None);
        assert_eq!(
            prescan_charset(b"<meta charset=utf-16le>"),
            Some(encoding_rs::UTF_8)
        );
        assert_eq!(prescan_charset(b"<meta charset="), None);
    }

    #[test]
    fn wrong_declaration_falls_back_to_the_bytes() {
        let (body, _, _) =
            encoding_rs::GBK.encode("<meta charset=utf-8><p>营业收入同比增长百分之十二。</p>");
        let decoded = decode_html(Path::new("a.html"), &body).expect("decodes");
        assert!(
            decoded.text.contains("营业收入同比增长"),
            "{}",
            decoded.text
        );
        assert!(decoded.warnings[0].contains("declares charset UTF-8"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = format!("{}深{}", "<div>".repeat(5_000), "</div>".repeat(5_000));
        let (text, _) = convert(&html);
        assert_eq!(text, "深");
    }
}
