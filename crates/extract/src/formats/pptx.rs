//! PowerPoint 2007+ (`.pptx`): one page per slide in presentation order, the slide title as
//! heading and page label, then the body text and tables, then the speaker notes.

use quick_xml::events::{BytesStart, Event};

use super::zipped::{self, attr, push_entity, push_paragraph, Archive, Table};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Source};

/// The line that introduces a slide's speaker notes.
const NOTES_LABEL: &str = "Notes:";

/// Placeholders whose text is layout boilerplate (slide number, date, footer, header) or a
/// picture of the slide (on notes pages), not content.
const BOILERPLATE: [&str; 5] = ["sldNum", "dt", "ftr", "hdr", "sldImg"];

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let mut archive = Archive::open(src)?;
    let Some(presentation) = zipped::main_part(&mut archive, "ppt/presentation.xml")? else {
        return Err(src.corrupt("missing ppt/presentation.xml (not a PowerPoint presentation)"));
    };
    let rels = zipped::relationships(&mut archive, &presentation)?;
    let Some(xml) = archive.read_xml(&presentation)? else {
        return Err(src.corrupt(format!("missing {presentation}")));
    };
    let slide_ids = slide_order(&xml).map_err(|e| archive.xml_error(&presentation, e))?;
    let slides: Vec<String> = slide_ids
        .iter()
        .filter_map(|id| rels.iter().find(|r| &r.id == id && r.is("slide")))
        .map(|r| r.target.clone())
        .collect();
    let title = zipped::core_title(&mut archive)?;
    let mut out = TextBuilder::new();
    let mut warnings = Vec::new();
    for (index, part) in slides.iter().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let Some(xml) = archive.read_xml(part)? else {
            warnings.push(format!("slide {number}: {part} is missing"));
            out.begin_page(number, None);
            continue;
        };
        let slide = read_shapes(&xml).map_err(|e| archive.xml_error(part, e))?;
        let notes = match notes_part(&mut archive, part)? {
            Some(notes_part) => match archive.read_xml(&notes_part)? {
                Some(xml) => {
                    read_shapes(&xml)
                        .map_err(|e| archive.xml_error(&notes_part, e))?
                        .blocks
                }
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        out.begin_page(number, slide.title.clone());
        if let Some(title) = &slide.title {
            out.heading(1, title);
        }
        for block in &slide.blocks {
            block.write(&mut out);
        }
        if !notes.is_empty() {
            out.push_block(NOTES_LABEL);
            for block in &notes {
                match block {
                    Block::Text(text) => text.lines().for_each(|line| out.push_line(line)),
                    Block::Table(table) => table.render(&mut out),
                }
            }
        }
    }
    let mut extracted = src.extracted(out);
    extracted.title = title;
    extracted.warnings = warnings;
    Ok(extracted)
}

/// The relationship ids of the slides, in the order `p:sldIdLst` lists them.
fn slide_order(xml: &str) -> Result<Vec<String>, quick_xml::Error> {
    let mut reader = zipped::xml_reader(xml, false);
    let mut ids = Vec::new();
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sldId" => {
                if let Some(id) = relationship_id(&e) {
                    ids.push(id);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(ids)
}

/// The `r:id` attribute: prefixed, unlike the numeric `id` next to it.
fn relationship_id(e: &BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.prefix().is_some() && a.key.local_name().as_ref() == "id")
        .map(|a| a.value.into_owned())
}

/// The notes page of a slide, from the slide's relationships.
fn notes_part(archive: &mut Archive<'_>, slide: &str) -> Result<Option<String>, ExtractError> {
    Ok(zipped::relationships(archive, slide)?
        .into_iter()
        .find(|r| r.is("notesSlide"))
        .map(|r| r.target))
}

/// What a slide or notes page says.
#[derive(Debug, Default)]
struct Shapes {
    title: Option<String>,
    blocks: Vec<Block>,
}

#[derive(Debug)]
enum Block {
    Text(String),
    Table(Table),
}

impl Block {
    fn write(&self, out: &mut TextBuilder) {
        match self {
            Self::Text(text) => out.push_block(text),
            Self::Table(table) => table.render(out),
        }
    }
}

/// The shape being read: its placeholder type and its paragraphs so far.
#[derive(Default)]
struct Shape {
    placeholder: Option<String>,
    text: String,
}

/// Reads the text of every shape and table on a slide or notes page, in document order.
fn read_shapes(xml: &str) -> Result<Shapes, quick_xml::Error> {
    let mut reader = zipped::xml_reader(xml, false);
    let mut found = Shapes::default();
    let mut shape: Option<Shape> = None;
    let mut table: Option<(Table, Option<String>)> = None;
    let mut para: Option<String> = None;
    let mut in_text = false;
    loop {
        match reader.read_event()? {
            Event::Start(e) => match e.local_name().as_ref() {
                "Fallback" => zipped::skip_element(&mut reader, &e)?,
                "sp" => shape = Some(Shape::default()),
                "ph" => set_placeholder(&mut shape, &e),
                "p" => para = Some(String::new()),
                "t" => in_text = para.is_some(),
                "tbl" => table = Some((Table::default(), None)),
                "tr" => {
                    if let Some((t, _)) = table.as_mut() {
                        t.start_row();
                    }
                }
                "tc" => {
                    if let Some((t, cell)) = table.as_mut() {
                        // Every a:tc is one grid column: cells covered by a merge are present
                        // (hMerge/vMerge) and empty, so gridSpan needs no bookkeeping here.
                        if attr(&e, "hMerge").is_some_and(|v| v == "1" || v == "true") {
                            t.push_cell(String::new(), 1);
                            zipped::skip_element(&mut reader, &e)?;
                        } else {
                            *cell = Some(String::new());
                        }
                    }
                }
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "ph" => set_placeholder(&mut shape, &e),
                "br" => {
                    if let Some(p) = para.as_mut() {
                        p.push('\n');
                    }
                }
                "tc" => {
                    if let Some((t, _)) = table.as_mut() {
                        t.push_cell(String::new(), 1);
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_text => {
                if let Some(p) = para.as_mut() {
                    p.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_text => {
                if let Some(p) = para.as_mut() {
                    push_entity(p, &r);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => {
                    let text = para.take().unwrap_or_default();
                    let cell = table.as_mut().and_then(|(_, cell)| cell.as_mut());
                    if let Some(cell) = cell {
                        push_paragraph(cell, &text);
                    } else if let Some(shape) = shape.as_mut() {
                        push_paragraph(&mut shape.text, &text);
                    }
                }
                "tc" => {
                    if let Some((t, cell)) = table.as_mut() {
                        t.push_cell(cell.take().unwrap_or_default(), 1);
                    }
                }
                "tbl" => {
                    if let Some((t, _)) = table.take() {
                        found.blocks.push(Block::Table(t));
                    }
                }
                "sp" => {
                    if let Some(done) = shape.take() {
                        finish_shape(&mut found, done);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(found)
}

fn set_placeholder(shape: &mut Option<Shape>, e: &BytesStart<'_>) {
    if let Some(shape) = shape.as_mut() {
        // A placeholder without a type is a body (content) placeholder.
        shape.placeholder = Some(attr(e, "type").unwrap_or_else(|| "body".to_owned()));
    }
}

fn finish_shape(found: &mut Shapes, shape: Shape) {
    let text = shape.text.trim();
    if text.is_empty() {
        return;
    }
    match shape.placeholder.as_deref() {
        Some("title" | "ctrTitle") if found.title.is_none() => {
            found.title = Some(zipped::one_line(text));
        }
        Some(kind) if BOILERPLATE.contains(&kind) => {}
        _ => found.blocks.push(Block::Text(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slide_order_uses_relationship_ids() {
        let xml = r#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst>
            <p:sldId id="257" r:id="rId9"/><p:sldId id="256" r:id="rId2"/></p:sldIdLst></p:presentation>"#;
        assert_eq!(slide_order(xml).expect("parses"), vec!["rId9", "rId2"]);
    }

    #[test]
    fn titles_bodies_tables_and_boilerplate() {
        let xml = r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>
          <p:sp><p:nvSpPr><p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr>
            <p:txBody><a:p><a:r><a:t>line 1</a:t></a:r><a:br/><a:r><a:t>line 2</a:t></a:r></a:p><a:p><a:r><a:t>para 2</a:t></a:r></a:p></p:txBody></p:sp>
          <p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>
            <p:txBody><a:p><a:r><a:t>The &amp; title</a:t></a:r></a:p></p:txBody></p:sp>
          <p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr>
            <p:txBody><a:p><a:fld><a:t>7</a:t></a:fld></a:p></p:txBody></p:sp>
          <p:graphicFrame><a:graphic><a:graphicData><a:tbl>
            <a:tr><a:tc gridSpan="2"><a:txBody><a:p><a:r><a:t>Wide</a:t></a:r></a:p></a:txBody></a:tc><a:tc hMerge="1"><a:txBody><a:p/></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Last</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
            <a:tr><a:tc><a:txBody><a:p><a:r><a:t>1</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>2</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>3</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
          </a:tbl></a:graphicData></a:graphic></p:graphicFrame>
        </p:spTree></p:cSld></p:sld>"#;
        let shapes = read_shapes(xml).expect("parses");
        assert_eq!(shapes.title.as_deref(), Some("The & title"));
        let mut out = TextBuilder::new();
        for block in &shapes.blocks {
            block.write(&mut out);
        }
        let (text, _, _) = out.finish();
        assert_eq!(
            text,
            "line 1\nline 2\npara 2\n\nWide | Last\nWide: 1 | 2 | Last: 3"
        );
    }
}
