//! OpenDocument text (`.odt`): `content.xml` streamed in order (headings with their outline
//! level, paragraphs, lists, tables) and the title from `meta.xml`.

use quick_xml::events::{BytesStart, Event};

use super::zipped::{self, attr, push_collapsed, push_entity, push_paragraph, Archive};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Source};

/// Most spaces one `text:s` element may stand for; the attribute is an unchecked number.
const MAX_SPACES: usize = 64;

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let mut archive = Archive::open(src)?;
    if let Some(manifest) = archive.read_xml("META-INF/manifest.xml")? {
        // Password-protected ODF keeps the zip readable but encrypts the parts it lists.
        if manifest.contains("encryption-data") {
            return Err(ExtractError::Encrypted {
                path: src.path.to_owned(),
            });
        }
    }
    let Some(xml) = archive.read_xml("content.xml")? else {
        return Err(src.corrupt("missing content.xml (not an OpenDocument file)"));
    };
    let builder = read_content(&xml).map_err(|e| archive.xml_error("content.xml", e))?;
    let title = archive
        .read_xml("meta.xml")?
        .and_then(|meta| zipped::first_element_text(&meta, "title"));
    let mut extracted = src.extracted(builder);
    extracted.title = title;
    Ok(extracted)
}

/// The paragraph or heading being read. Notes and frames nest paragraphs inside paragraphs;
/// only the outermost one is a block.
#[derive(Default)]
struct Paragraph {
    text: String,
    level: Option<u8>,
}

fn read_content(xml: &str) -> Result<TextBuilder, quick_xml::Error> {
    let mut out = TextBuilder::new();
    let mut reader = zipped::xml_reader(xml, false);
    let mut para = Paragraph::default();
    let mut depth = 0u32;
    let mut tables: Vec<zipped::OpenTable> = Vec::new();
    loop {
        match reader.read_event()? {
            // Image descriptions are not running text (`text:title`, a field, is).
            Event::Start(e) if matches!(e.name().as_ref(), "svg:title" | "svg:desc") => {
                zipped::skip_element(&mut reader, &e)?
            }
            Event::Start(e) => match e.local_name().as_ref() {
                // Deleted text of tracked changes, comments and footnote numbers are not the
                // document's running text.
                "tracked-changes" | "annotation" | "note-citation" => {
                    zipped::skip_element(&mut reader, &e)?
                }
                "h" | "p" => {
                    depth += 1;
                    if depth == 1 {
                        para = Paragraph::default();
                        if e.local_name().as_ref() == "h" {
                            para.level = Some(outline_level(&e));
                        }
                    } else if !para.text.is_empty() {
                        para.text.truncate(para.text.trim_end().len());
                        para.text.push('\n');
                    }
                }
                "table" => tables.push(zipped::OpenTable::default()),
                "table-row" => {
                    if let Some(open) = tables.last_mut() {
                        open.table.start_row();
                    }
                }
                "table-cell" | "covered-table-cell" => {
                    if let Some(open) = tables.last_mut() {
                        open.cell = Some(String::new());
                        open.span = columns_repeated(&e);
                    }
                }
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "s" if depth > 0 => {
                    let count = attr(&e, "c")
                        .and_then(|c| c.parse::<usize>().ok())
                        .unwrap_or(1);
                    para.text.push_str(&" ".repeat(count.clamp(1, MAX_SPACES)));
                }
                "tab" if depth > 0 => para.text.push('\t'),
                "line-break" if depth > 0 => para.text.push('\n'),
                "table-cell" | "covered-table-cell" => {
                    if let Some(open) = tables.last_mut() {
                        open.table.push_cell(String::new(), columns_repeated(&e));
                    }
                }
                _ => {}
            },
            Event::Text(t) if depth > 0 => push_collapsed(&mut para.text, &t.xml10_content()),
            Event::CData(t) if depth > 0 => para.text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if depth > 0 => push_entity(&mut para.text, &r),
            Event::End(e) => match e.local_name().as_ref() {
                "h" | "p" => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        let done = std::mem::take(&mut para);
                        if let Some(cell) = tables.last_mut().and_then(|t| t.cell.as_mut()) {
                            push_paragraph(cell, &done.text);
                        } else if let Some(level) = done.level {
                            out.heading(level, &zipped::one_line(&done.text));
                        } else {
                            out.push_block(&done.text);
                        }
                    }
                }
                "table-cell" | "covered-table-cell" => {
                    zipped::close_cell(&mut tables);
                }
                "table" => {
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

/// `text:outline-level` of a `text:h`; 1 when absent, as ODF specifies.
fn outline_level(e: &BytesStart<'_>) -> u8 {
    attr(e, "outline-level")
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(1)
        .clamp(1, 10)
}

/// How many columns a cell stands for (`table:number-columns-repeated`).
fn columns_repeated(e: &BytesStart<'_>) -> u32 {
    attr(e, "number-columns-repeated")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_paragraphs_lists_and_tables() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:body><office:text>
            <text:tracked-changes><text:changed-region><text:deletion><text:p>deleted</text:p></text:deletion></text:changed-region></text:tracked-changes>
            <text:h text:outline-level="2">Sub  heading</text:h>
            <text:p>One<text:s text:c="3"/>two<text:tab/>three<text:line-break/>four
              <text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>a note</text:p></text:note-body></text:note></text:p>
            <text:list><text:list-item><text:p>item &amp; more</text:p></text:list-item></text:list>
            <table:table><table:table-row><table:table-cell><text:p>K</text:p></table:table-cell>
              <table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>V</text:p></table:table-cell></table:table-row>
              <table:table-row><table:table-cell><text:p>k1</text:p></table:table-cell><table:covered-table-cell/>
              <table:table-cell/><table:table-cell><text:p>v1</text:p><text:p>v2</text:p></table:table-cell></table:table-row></table:table>
            <text:p text:style-name="P1"/>
          </office:text></office:body></office:document-content>"#;
        let (text, _, headings) = read_content(xml).expect("parses").finish();
        assert_eq!(
            text,
            "Sub heading\n\nOne   two\tthree\nfour\na note\n\nitem & more\n\nK | V\nK: k1 | V: v1 v2"
        );
        assert_eq!(headings.len(), 1);
        assert_eq!(headings[0].level, 2);
    }
}
