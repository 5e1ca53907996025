//! Word 2007+ (`.docx`): the main document part streamed in order, paragraphs and tables
//! interleaved, headings resolved through the style sheet, the title from the core properties.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};

use super::zipped::{self, attr, push_entity, push_paragraph, Archive};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Source};

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let mut archive = Archive::open(src)?;
    let Some(part) = zipped::main_part(&mut archive, "word/document.xml")? else {
        return Err(src.corrupt("missing word/document.xml (not a Word document)"));
    };
    let rels = zipped::relationships(&mut archive, &part)?;
    let styles_part = rels
        .iter()
        .find(|r| r.is("styles"))
        .map(|r| r.target.clone())
        .unwrap_or_else(|| "word/styles.xml".to_owned());
    let styles = match archive.read_xml(&styles_part)? {
        Some(xml) => heading_styles(&xml),
        None => HashMap::new(),
    };
    let title = zipped::core_title(&mut archive)?;
    let Some(xml) = archive.read_xml(&part)? else {
        return Err(src.corrupt(format!("missing {part}")));
    };
    let builder = read_body(&xml, &styles).map_err(|e| archive.xml_error(&part, e))?;
    let mut extracted = src.extracted(builder);
    extracted.title = title;
    Ok(extracted)
}

/// The heading level (1 = top) a paragraph style name or id implies: `heading 1`, `Heading1`,
/// `标题 1`. Styles with an outline level in `styles.xml` are resolved before this is asked.
fn level_from_name(name: &str) -> Option<u8> {
    let squashed: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let number = squashed
        .strip_prefix("heading")
        .or_else(|| squashed.strip_prefix("标题"))?;
    number.parse::<u8>().ok().filter(|n| (1..=9).contains(n))
}

/// Maps paragraph style ids to heading levels. A style is a heading if it (or a style it is
/// based on) has an outline level, or is named like a built-in heading: Chinese Word names
/// them `heading 1` but gives them ids like `1`, so ids alone are not enough.
fn heading_styles(xml: &str) -> HashMap<String, u8> {
    struct Style {
        name: Option<String>,
        outline: Option<u8>,
        based_on: Option<String>,
    }
    let mut styles: HashMap<String, Style> = HashMap::new();
    let mut current: Option<(String, Style)> = None;
    let mut reader = zipped::xml_reader(xml, true);
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        match event {
            Event::Start(e) if e.local_name().as_ref() == "style" => {
                let paragraph = attr(&e, "type").is_none_or(|t| t == "paragraph");
                current = match (paragraph, attr(&e, "styleId")) {
                    (true, Some(id)) => Some((
                        id,
                        Style {
                            name: None,
                            outline: None,
                            based_on: None,
                        },
                    )),
                    _ => None,
                };
            }
            Event::End(e) if e.local_name().as_ref() == "style" => {
                if let Some((id, style)) = current.take() {
                    styles.insert(id, style);
                }
            }
            Event::Empty(e) => {
                if let Some((_, style)) = current.as_mut() {
                    match e.local_name().as_ref() {
                        "name" => style.name = attr(&e, "val"),
                        "basedOn" => style.based_on = attr(&e, "val"),
                        "outlineLvl" => style.outline = outline_level(&e),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut levels = HashMap::new();
    for id in styles.keys() {
        let mut next = Some(id);
        // Bounded: `basedOn` chains are short, and a cycle must not hang the reader.
        for _ in 0..16 {
            let Some(style) = next.and_then(|id| styles.get(id)) else {
                break;
            };
            let level = style
                .outline
                .or_else(|| style.name.as_deref().and_then(level_from_name));
            if let Some(level) = level {
                levels.insert(id.clone(), level);
                break;
            }
            next = style.based_on.as_ref();
        }
    }
    levels
}

/// `w:outlineLvl w:val="0"` is a level-1 heading; 9 means body text.
fn outline_level(e: &BytesStart<'_>) -> Option<u8> {
    attr(e, "val")?
        .parse::<u8>()
        .ok()
        .filter(|v| *v < 9)
        .map(|v| v + 1)
}

/// The paragraph being read, with what its properties say about it.
#[derive(Default)]
struct Paragraph {
    text: String,
    level: Option<u8>,
}

/// Streams `word/document.xml` into a builder.
fn read_body(xml: &str, styles: &HashMap<String, u8>) -> Result<TextBuilder, quick_xml::Error> {
    let mut out = TextBuilder::new();
    let mut reader = zipped::xml_reader(xml, false);
    let mut para = Paragraph::default();
    // Text boxes put paragraphs inside paragraphs; only the outermost one is a block.
    let mut para_depth = 0u32;
    let mut props_depth = 0u32;
    let mut run_depth = 0u32;
    let mut in_text = false;
    let mut tables: Vec<zipped::OpenTable> = Vec::new();
    loop {
        match reader.read_event()? {
            Event::Start(e) => match e.local_name().as_ref() {
                // Old formatting of tracked changes, moved-away text and the fallback copy of
                // alternate content (text boxes appear twice) would repeat or mislabel text.
                "pPrChange" | "rPrChange" | "moveFrom" | "Fallback" => {
                    zipped::skip_element(&mut reader, &e)?
                }
                "p" => {
                    para_depth += 1;
                    if para_depth == 1 {
                        para = Paragraph::default();
                    } else if !para.text.is_empty() {
                        para.text.push('\n');
                    }
                }
                "pPr" => props_depth += 1,
                "r" => run_depth += 1,
                "t" => in_text = para_depth > 0,
                "tbl" => tables.push(zipped::OpenTable::default()),
                "tr" => {
                    if let Some(open) = tables.last_mut() {
                        open.table.start_row();
                    }
                }
                "tc" => {
                    if let Some(open) = tables.last_mut() {
                        open.cell = Some(String::new());
                        open.span = 1;
                    }
                }
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "pStyle" if para_depth == 1 && props_depth > 0 => {
                    if let Some(id) = attr(&e, "val") {
                        para.level = styles.get(&id).copied().or_else(|| level_from_name(&id));
                    }
                }
                "outlineLvl" if para_depth == 1 && props_depth > 0 => {
                    para.level = outline_level(&e);
                }
                "tab" if run_depth > 0 => para.text.push('\t'),
                "br" | "cr" if run_depth > 0 => para.text.push('\n'),
                "noBreakHyphen" if run_depth > 0 => para.text.push('-'),
                "gridSpan" => {
                    if let Some(open) = tables.last_mut() {
                        open.span = attr(&e, "val").and_then(|v| v.parse().ok()).unwrap_or(1);
                    }
                }
                "tc" => {
                    if let Some(open) = tables.last_mut() {
                        open.table.push_cell(String::new(), 1);
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_text => para.text.push_str(&t.xml10_content()),
            Event::CData(t) if in_text => para.text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => push_entity(&mut para.text, &r),
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "r" => run_depth = run_depth.saturating_sub(1),
                "pPr" => props_depth = props_depth.saturating_sub(1),
                "p" => {
                    para_depth = para_depth.saturating_sub(1);
                    if para_depth == 0 {
                        let done = std::mem::take(&mut para);
                        finish_paragraph(&mut out, &mut tables, done);
                    }
                }
                "tc" => {
                    zipped::close_cell(&mut tables);
                }
                "tbl" => {
                    zipped::close_table(&mut tables, &mut out);
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// A finished paragraph becomes a heading, a block, or a line of the open table cell.
fn finish_paragraph(out: &mut TextBuilder, tables: &mut [zipped::OpenTable], para: Paragraph) {
    if let Some(cell) = tables.last_mut().and_then(|t| t.cell.as_mut()) {
        push_paragraph(cell, &para.text);
        return;
    }
    match para.level {
        Some(level) => out.heading(level, &zipped::one_line(&para.text)),
        None => out.push_block(&para.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

    fn body(inner: &str) -> String {
        format!(r#"<w:document {W}><w:body>{inner}</w:body></w:document>"#)
    }

    #[test]
    fn heading_levels_come_from_names_outline_levels_and_base_styles() {
        let styles = format!(
            r#"<w:styles {W}>
            <w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/></w:style>
            <w:style w:type="paragraph" w:styleId="Custom"><w:name w:val="Fancy"/>
              <w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
            <w:style w:type="paragraph" w:styleId="Derived"><w:basedOn w:val="Custom"/></w:style>
            <w:style w:type="paragraph" w:styleId="LoopA"><w:basedOn w:val="LoopB"/></w:style>
            <w:style w:type="paragraph" w:styleId="LoopB"><w:basedOn w:val="LoopA"/></w:style>
            <w:style w:type="character" w:styleId="Heading1Char"><w:name w:val="heading 1 char"/></w:style>
            </w:styles>"#
        );
        let levels = heading_styles(&styles);
        assert_eq!(levels.get("1"), Some(&1));
        assert_eq!(levels.get("Custom"), Some(&3));
        assert_eq!(levels.get("Derived"), Some(&3));
        assert_eq!(levels.get("LoopA"), None);
        assert_eq!(levels.get("Heading1Char"), None);
        assert_eq!(level_from_name("标题 2"), Some(2));
        assert_eq!(level_from_name("Heading10"), None);
    }

    #[test]
    fn paragraphs_tables_and_headings_keep_document_order() {
        let xml = body(
            r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Title &amp; more</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">a </w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>H1</w:t></w:r></w:p></w:tc>
                         <w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r><w:t>H2</w:t></w:r></w:p></w:tc>
                         <w:tc><w:p><w:r><w:t>H3</w:t></w:r></w:p></w:tc></w:tr>
                   <w:tr><w:tc><w:p><w:r><w:t>x</w:t></w:r></w:p><w:p><w:r><w:t>y</w:t></w:r></w:p></w:tc>
                         <w:tc><w:p/></w:tc><w:tc><w:p/></w:tc><w:tc><w:p><w:r><w:t>z</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            <w:p><w:pPr><w:outlineLvl w:val="1"/><w:pPrChange><w:pPr><w:pStyle w:val="Heading1"/></w:pPr></w:pPrChange></w:pPr><w:r><w:t>Sub</w:t></w:r></w:p>
            <w:p><w:r><w:delText>gone</w:delText><w:instrText>PAGE</w:instrText><w:t>end</w:t></w:r></w:p>"#,
        );
        let (text, _, headings) = read_body(&xml, &HashMap::new()).expect("parses").finish();
        assert_eq!(
            text,
            "Title & more\n\na \tb\nc\n\nH1 | H2 | H3\nH1: x y | H3: z\n\nSub\n\nend"
        );
        let levels: Vec<(u8, &str)> = headings
            .iter()
            .map(|h| (h.level, h.title.as_str()))
            .collect();
        assert_eq!(levels, vec![(1, "Title & more"), (2, "Sub")]);
    }

    #[test]
    fn text_boxes_and_nested_tables_are_not_lost() {
        let xml = body(
            r#"<w:p><w:r><w:t>outer</w:t></w:r><w:r><mc:AlternateContent xmlns:mc="mc">
                 <mc:Choice><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Choice>
                 <mc:Fallback><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Fallback>
               </mc:AlternateContent></w:r></w:p>
               <w:tbl><w:tr><w:tc><w:p><w:r><w:t>k</w:t></w:r></w:p></w:tc></w:tr>
                 <w:tr><w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>in1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>in2</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>"#,
        );
        let (text, _, _) = read_body(&xml, &HashMap::new()).expect("parses").finish();
        assert_eq!(text, "outer\nboxed\n\nk\nk: in1 | in2");
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        assert!(read_body("<w:document><w:body><w:p>", &HashMap::new()).is_ok());
        assert!(read_body("<w:document><w:body></w:p></w:body>", &HashMap::new()).is_err());
    }
}
