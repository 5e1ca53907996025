//! EPUB 2/3 e-books: `container.xml` → package document → spine; one page per chapter in
//! reading order, labelled with its first heading or title, XHTML reduced to text blocks.

use std::collections::{HashMap, HashSet};

use quick_xml::events::Event;

use super::zipped::{self, attr, push_collapsed, push_entity, push_paragraph, Archive, Table};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Source};

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let mut archive = Archive::open(src)?;
    let opf_path = package_path(&mut archive)?;
    let Some(opf) = archive.read_xml(&opf_path)? else {
        return Err(src.corrupt(format!("missing package document {opf_path}")));
    };
    let package = read_package(&opf, zipped::parent_dir(&opf_path))
        .map_err(|e| archive.xml_error(&opf_path, e))?;
    if package.spine_items == 0 {
        return Err(src.corrupt(format!("{opf_path} lists no chapters (empty spine)")));
    }
    let encrypted = encrypted_parts(&mut archive)?;
    if package.spine.iter().any(|part| encrypted.contains(part)) {
        return Err(ExtractError::Encrypted {
            path: src.path.to_owned(),
        });
    }
    let mut out = TextBuilder::new();
    let mut warnings = Vec::new();
    let mut number = 0u32;
    for part in &package.spine {
        let Some(xhtml) = archive.read_xml(part)? else {
            warnings.push(format!("{part} is listed in the spine but missing"));
            continue;
        };
        let chapter = read_xhtml(&xhtml);
        if let Some(error) = &chapter.error {
            warnings.push(format!(
                "{part}: {error}; text after that point may be missing"
            ));
        }
        number = number.saturating_add(1);
        out.begin_page(number, chapter.label());
        for block in &chapter.blocks {
            match block {
                Block::Heading(level, text) => out.heading(*level, text),
                Block::Text(text) => out.push_block(text),
                Block::Table(table) => table.render(&mut out),
            }
        }
    }
    if package.spine.is_empty() {
        warnings.push("the book has no text chapters (only images or other media)".to_owned());
    }
    let mut extracted = src.extracted(out);
    extracted.title = package.title;
    extracted.warnings = warnings;
    Ok(extracted)
}

/// The package document named by `META-INF/container.xml`, or the archive's first `.opf`
/// when the container is missing or names none.
fn package_path(archive: &mut Archive<'_>) -> Result<String, ExtractError> {
    if let Some(container) = archive.read_xml("META-INF/container.xml")? {
        let mut reader = zipped::xml_reader(&container, true);
        let mut first = None;
        loop {
            match reader.read_event() {
                Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "rootfile" => {
                    let is_opf =
                        attr(&e, "media-type").is_none_or(|t| t == "application/oebps-package+xml");
                    if let (true, Some(path)) = (is_opf, attr(&e, "full-path")) {
                        first = Some(zipped::resolve_part("", &path));
                        break;
                    }
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(path) = first.filter(|p| archive.contains(p)) {
            return Ok(path);
        }
    }
    archive
        .names()
        .into_iter()
        .find(|n| n.to_ascii_lowercase().ends_with(".opf"))
        .ok_or_else(|| {
            archive
                .source()
                .corrupt("no package document: META-INF/container.xml is missing or names none")
        })
}

/// What the reader needs from the package document.
#[derive(Debug, Default)]
struct Package {
    title: Option<String>,
    /// Member names of the spine's (X)HTML items in reading order, the navigation document
    /// left out: it repeats the chapter titles as a table of contents.
    spine: Vec<String>,
    /// How many items the spine lists, text or not.
    spine_items: usize,
}

fn read_package(opf: &str, base_dir: &str) -> Result<Package, quick_xml::Error> {
    struct Item {
        href: String,
        media_type: String,
        nav: bool,
    }
    let mut reader = zipped::xml_reader(opf, true);
    let mut items: HashMap<String, Item> = HashMap::new();
    let mut spine_ids = Vec::new();
    let mut title: Option<String> = None;
    let mut in_title = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "item" => {
                if let (Some(id), Some(href)) = (attr(&e, "id"), attr(&e, "href")) {
                    let properties = attr(&e, "properties").unwrap_or_default();
                    items.insert(
                        id,
                        Item {
                            href,
                            media_type: attr(&e, "media-type").unwrap_or_default(),
                            nav: properties.split_whitespace().any(|p| p == "nav"),
                        },
                    );
                }
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "itemref" => {
                if let Some(id) = attr(&e, "idref") {
                    spine_ids.push(id);
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "title" && title.is_none() => {
                in_title = true;
                title = Some(String::new());
            }
            Event::End(e) if e.local_name().as_ref() == "title" => in_title = false,
            Event::Text(t) if in_title => {
                if let Some(title) = title.as_mut() {
                    title.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_title => {
                if let Some(title) = title.as_mut() {
                    push_entity(title, &r);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let spine = spine_ids
        .iter()
        .filter_map(|id| items.get(id))
        .filter(|item| !item.nav && is_html(&item.media_type, &item.href))
        .map(|item| zipped::resolve_part(base_dir, &item.href))
        .collect();
    Ok(Package {
        title: title
            .map(|t| zipped::one_line(&t))
            .filter(|t| !t.is_empty()),
        spine,
        spine_items: spine_ids.len(),
    })
}

fn is_html(media_type: &str, href: &str) -> bool {
    match media_type {
        "application/xhtml+xml" | "text/html" | "application/xml" | "text/xml" => true,
        "" => {
            let href = href.to_ascii_lowercase();
            [".xhtml", ".html", ".htm", ".xml"]
                .iter()
                .any(|ext| href.ends_with(ext))
        }
        _ => false,
    }
}

/// Parts `META-INF/encryption.xml` lists as encrypted. Obfuscated fonts are listed there too,
/// so only encrypted chapters make the book unreadable.
fn encrypted_parts(archive: &mut Archive<'_>) -> Result<HashSet<String>, ExtractError> {
    let mut parts = HashSet::new();
    let Some(xml) = archive.read_xml("META-INF/encryption.xml")? else {
        return Ok(parts);
    };
    let mut reader = zipped::xml_reader(&xml, true);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e))
                if e.local_name().as_ref() == "CipherReference" =>
            {
                if let Some(uri) = attr(&e, "URI") {
                    parts.insert(zipped::resolve_part("", &uri));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(parts)
}

/// A chapter reduced to blocks.
#[derive(Debug, Default)]
struct Chapter {
    title: Option<String>,
    blocks: Vec<Block>,
    /// Why parsing stopped early, if it did.
    error: Option<String>,
}

#[derive(Debug)]
enum Block {
    Heading(u8, String),
    Text(String),
    Table(Table),
}

impl Chapter {
    /// The page label: the chapter's first heading, else its `<title>`.
    fn label(&self) -> Option<String> {
        self.blocks
            .iter()
            .find_map(|b| match b {
                Block::Heading(_, text) => Some(text.clone()),
                _ => None,
            })
            .or_else(|| self.title.clone())
    }
}

/// Elements whose content is never shown as text.
const HIDDEN: [&str; 5] = ["script", "style", "template", "noscript", "svg"];

/// Elements that start and end a block of text.
const BLOCKS: [&str; 30] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];

/// XHTML to blocks: script and style dropped, block elements separate blocks, `h1`-`h6`
/// become headings, tables become rows. Parsing is lenient, and an error keeps what was read.
fn read_xhtml(xhtml: &str) -> Chapter {
    let mut chapter = Chapter::default();
    let mut reader = zipped::xml_reader(xhtml, true);
    let mut state = Flow::default();
    let mut in_head = false;
    let mut title: Option<String> = None;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                chapter.error = Some(e.to_string());
                break;
            }
        };
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                if HIDDEN.contains(&name.as_str()) {
                    if let Err(e) = zipped::skip_element(&mut reader, &e) {
                        chapter.error = Some(e.to_string());
                        break;
                    }
                    continue;
                }
                match name.as_str() {
                    "head" => in_head = true,
                    "title" if in_head => title = Some(String::new()),
                    _ => state.open(&name, &e, &mut chapter.blocks),
                }
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                match name.as_str() {
                    "br" => state.text.push('\n'),
                    "td" | "th" => {
                        if let Some((table, _, _)) = state.tables.last_mut() {
                            table.push_cell(String::new(), colspan(&e));
                        }
                    }
                    "img" => {
                        // Alt text stands in for pictures of text (common in scanned books).
                        if let Some(alt) = attr(&e, "alt").filter(|a| !a.trim().is_empty()) {
                            push_collapsed(&mut state.text, &format!(" {alt} "));
                        }
                    }
                    _ if BLOCKS.contains(&name.as_str()) => state.flush(&mut chapter.blocks),
                    _ => {}
                }
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_ascii_lowercase();
                match name.as_str() {
                    "head" => in_head = false,
                    "title" if in_head => {
                        chapter.title = title.take().map(|t| zipped::one_line(&t));
                    }
                    _ => state.close(&name, &mut chapter.blocks),
                }
            }
            Event::Text(t) => match title.as_mut() {
                Some(title) => title.push_str(&t.xml10_content()),
                None if !in_head => state.push_text(&t.xml10_content()),
                None => {}
            },
            Event::CData(t) if !in_head => state.push_text(&t.xml10_content()),
            Event::GeneralRef(r) => match title.as_mut() {
                Some(title) => push_entity(title, &r),
                None if !in_head => push_entity(&mut state.text, &r),
                None => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    state.flush(&mut chapter.blocks);
    while let Some((table, _, _)) = state.tables.pop() {
        chapter.blocks.push(Block::Table(table));
    }
    chapter.title = chapter.title.filter(|t| !t.is_empty());
    chapter
}

/// The text flow of a chapter body: inline text so far, the heading level it belongs to, and
/// the tables (with their open cell and its span) it is inside.
#[derive(Default)]
struct Flow {
    text: String,
    heading: Option<u8>,
    pre_depth: u32,
    tables: Vec<(Table, Option<String>, u32)>,
}

impl Flow {
    fn push_text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            self.text.push_str(text);
        } else {
            push_collapsed(&mut self.text, text);
        }
    }

    fn open(&mut self, name: &str, e: &quick_xml::events::BytesStart<'_>, blocks: &mut Vec<Block>) {
        if let Some(level) = heading_level(name) {
            self.flush(blocks);
            self.heading = Some(level);
            return;
        }
        match name {
            "br" => self.text.push('\n'),
            "table" => {
                self.flush(blocks);
                self.tables.push((Table::default(), None, 1));
            }
            "tr" => {
                self.flush(blocks);
                if let Some((table, _, _)) = self.tables.last_mut() {
                    table.start_row();
                }
            }
            "td" | "th" => {
                self.flush(blocks);
                if let Some((_, cell, span)) = self.tables.last_mut() {
                    *cell = Some(String::new());
                    *span = colspan(e);
                }
            }
            _ if BLOCKS.contains(&name) => {
                self.flush(blocks);
                if name == "pre" {
                    self.pre_depth += 1;
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, name: &str, blocks: &mut Vec<Block>) {
        if heading_level(name).is_some() {
            self.flush(blocks);
            return;
        }
        match name {
            "td" | "th" => {
                self.flush(blocks);
                if let Some((table, cell, span)) = self.tables.last_mut() {
                    if let Some(text) = cell.take() {
                        table.push_cell(text, *span);
                    }
                }
            }
            "table" => {
                self.flush(blocks);
                if let Some((table, _, _)) = self.tables.pop() {
                    match self
                        .tables
                        .last_mut()
                        .and_then(|(_, cell, _)| cell.as_mut())
                    {
                        Some(cell) => push_paragraph(cell, &table.to_plain()),
                        None => blocks.push(Block::Table(table)),
                    }
                }
            }
            _ if BLOCKS.contains(&name) => {
                self.flush(blocks);
                if name == "pre" {
                    self.pre_depth = self.pre_depth.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    /// Ends the current run of inline text: into the open table cell, or as a block.
    fn flush(&mut self, blocks: &mut Vec<Block>) {
        let text = std::mem::take(&mut self.text);
        let heading = self.heading.take();
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if let Some(cell) = self
            .tables
            .last_mut()
            .and_then(|(_, cell, _)| cell.as_mut())
        {
            push_paragraph(cell, text);
            return;
        }
        blocks.push(match heading {
            Some(level) => Block::Heading(level, zipped::one_line(text)),
            None => Block::Text(text.to_owned()),
        });
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn colspan(e: &quick_xml::events::BytesStart<'_>) -> u32 {
    attr(e, "colspan")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spine_order_skips_the_navigation_document() {
        let opf = r#"<package xmlns="http://www.idpf.org/2007/opf"><metadata xmlns:dc="dc">
            <dc:title> 书名 &amp; more </dc:title></metadata>
            <manifest><item id="c2" href="Text/c%202.xhtml" media-type="application/xhtml+xml"/>
            <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
            <item id="c1" href="Text/c1.xhtml" media-type="application/xhtml+xml"/>
            <item id="img" href="i.png" media-type="image/png"/></manifest>
            <spine><itemref idref="nav"/><itemref idref="c1"/><itemref idref="img"/><itemref idref="c2"/><itemref idref="gone"/></spine></package>"#;
        let package = read_package(opf, "OEBPS/").expect("parses");
        assert_eq!(package.title.as_deref(), Some("书名 & more"));
        assert_eq!(
            package.spine,
            vec!["OEBPS/Text/c1.xhtml", "OEBPS/Text/c 2.xhtml"]
        );
    }

    #[test]
    fn xhtml_blocks_headings_tables_and_hidden_text() {
        let xhtml = r#"<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">
            <head><title>T &amp; t</title><style>p { color: red }</style></head>
            <body><script>var hidden = 1;</script>
            <h2>First   <em>heading</em></h2>
            <p>Some <b>bold</b>
               text&nbsp;here.<br/>Next line</p>
            <div>Loose text<p>inner</p>tail</div>
            <table><tr><th>K</th><th colspan="2">V</th><th>W</th></tr>
                   <tr><td>1</td><td>2</td><td>3</td><td><p>4a</p><p>4b</p></td></tr></table>
            <pre>  keep
   spacing</pre>
            </body></html>"#;
        let chapter = read_xhtml(xhtml);
        assert_eq!(chapter.error, None);
        assert_eq!(chapter.title.as_deref(), Some("T & t"));
        assert_eq!(chapter.label().as_deref(), Some("First heading"));
        let mut out = TextBuilder::new();
        for block in &chapter.blocks {
            match block {
                Block::Heading(level, text) => out.heading(*level, text),
                Block::Text(text) => out.push_block(text),
                Block::Table(table) => table.render(&mut out),
            }
        }
        let (text, _, headings) = out.finish();
        assert_eq!(
            text,
            "First heading\n\nSome bold text\u{a0}here.\nNext line\n\nLoose text\n\ninner\n\ntail\n\n\
             K | V | W\nK: 1 | V: 2 | 3 | W: 4a 4b\n\nkeep\n   spacing"
        );
        assert_eq!(headings.len(), 1);
        assert_eq!(headings[0].level, 2);
    }

    #[test]
    fn broken_xhtml_keeps_what_was_read() {
        let chapter = read_xhtml("<html><body><p>before</p><p>after &bogus; <b>x</i> y</p><p a=>z");
        let texts: Vec<&str> = chapter
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(texts.first(), Some(&"before"));
        assert!(chapter.error.is_some() || texts.len() > 1, "{chapter:?}");
    }
}
