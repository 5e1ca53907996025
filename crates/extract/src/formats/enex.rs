//! Evernote exports (`.enex`), streamed with quick-xml: one page per `<note>` (title, tags,
//! author, date, ENML content as HTML); only the current note is held, `<resource>`s skipped.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::builder::TextBuilder;
use crate::formats::html;
use crate::{text, ExtractError, Extracted, Source};

/// An export: one page per note, numbered from 1 and labelled with the note's title.
pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    // ENEX is UTF-8 by definition; decoding like text also copes with a BOM or a stray legacy
    // encoding, and refuses binary files.
    let decoded = text::decode(src.path, src.bytes)?;
    let mut reader = Reader::from_str(&decoded.text);
    let mut builder = TextBuilder::new();
    let mut open: Vec<String> = Vec::new();
    let mut root_seen = false;
    let mut note: Option<Note> = None;
    let mut field: Option<(Field, usize, String)> = None;
    let mut notes = 0u32;
    let mut first_title: Option<String> = None;
    let syntax = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
        src.corrupt(format!(
            "XML error at byte {}: {e}",
            reader.error_position()
        ))
    };
    loop {
        let event = reader.read_event().map_err(|e| syntax(&reader, &e))?;
        match event {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_owned();
                if open.is_empty() {
                    check_root(src, &name, root_seen)?;
                    root_seen = true;
                }
                if note.is_some() && name == "resource" {
                    // Attachments are base64 data: skip them without building events.
                    reader
                        .read_to_end(start.name())
                        .map_err(|e| syntax(&reader, &e))?;
                    continue;
                }
                let parent = open.last().map(String::as_str);
                let grandparent = open.len().checked_sub(2).map(|i| open[i].as_str());
                match (grandparent, parent, name.as_str()) {
                    (_, Some("en-export"), "note") => note = Some(Note::default()),
                    (_, Some("note"), _) | (Some("note"), Some("note-attributes"), _) => {
                        if let Some(kind) = Field::named(&name, parent == Some("note")) {
                            field = Some((kind, open.len() + 1, String::new()));
                        }
                    }
                    _ => {}
                }
                open.push(name);
            }
            Event::Empty(start) if open.is_empty() => {
                let name = start.local_name().as_ref().to_owned();
                check_root(src, &name, root_seen)?;
                root_seen = true;
            }
            Event::End(_) => {
                let name = open.pop().unwrap_or_default();
                if let Some((kind, depth, value)) = field.take() {
                    if depth == open.len() + 1 {
                        if let Some(note) = note.as_mut() {
                            note.set(kind, value);
                        }
                    } else {
                        field = Some((kind, depth, value));
                    }
                }
                if name == "note" && open.last().map(String::as_str) == Some("en-export") {
                    if let Some(note) = note.take() {
                        notes += 1;
                        if notes == 1 {
                            first_title = note.title.clone();
                        }
                        note.write(notes, &mut builder);
                    }
                }
            }
            Event::Text(t) => collect(&mut field, open.len(), &t.xml10_content()),
            Event::CData(t) => collect(&mut field, open.len(), &t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = r.xml10_content();
                        match resolve_predefined_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => format!("&{name};"),
                        }
                    }
                };
                collect(&mut field, open.len(), &resolved);
            }
            Event::Eof => {
                if let Some(unclosed) = open.last() {
                    return Err(src.corrupt(format!("the file ends inside <{unclosed}>")));
                }
                if !root_seen {
                    return Err(src.corrupt("no <en-export> element: not an Evernote export"));
                }
                break;
            }
            _ => {}
        }
    }
    let mut extracted = src.extracted(builder);
    extracted.encoding = Some(decoded.encoding);
    extracted.warnings = decoded.warnings;
    if notes == 1 {
        extracted.title = first_title;
    }
    Ok(extracted)
}

fn check_root(src: &Source<'_>, name: &str, root_seen: bool) -> Result<(), ExtractError> {
    if root_seen {
        Err(src.corrupt(format!("a second root element <{name}>")))
    } else if name != "en-export" {
        Err(src.corrupt(format!(
            "root element is <{name}>, not <en-export>: not an Evernote export"
        )))
    } else {
        Ok(())
    }
}

/// Appends text to the field being read, if the text is directly inside it.
fn collect(field: &mut Option<(Field, usize, String)>, depth: usize, text: &str) {
    if let Some((_, field_depth, value)) = field {
        if *field_depth == depth {
            value.push_str(text);
        }
    }
}

/// The parts of a `<note>` that are written out.
#[derive(Debug, Clone, Copy)]
enum Field {
    Title,
    Content,
    Created,
    Tag,
    Author,
    Source,
}

impl Field {
    /// The field an element names: direct children of `<note>`, or of `<note-attributes>`.
    fn named(name: &str, in_note: bool) -> Option<Self> {
        match (in_note, name) {
            (true, "title") => Some(Self::Title),
            (true, "content") => Some(Self::Content),
            (true, "created") => Some(Self::Created),
            (true, "tag") => Some(Self::Tag),
            (false, "author") => Some(Self::Author),
            (false, "source-url") => Some(Self::Source),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Note {
    title: Option<String>,
    content: String,
    created: Option<String>,
    tags: Vec<String>,
    author: Option<String>,
    source: Option<String>,
}

impl Note {
    fn set(&mut self, field: Field, value: String) {
        let trimmed = value.trim();
        let one_line = || Some(trimmed.split_whitespace().collect::<Vec<_>>().join(" "));
        if trimmed.is_empty() {
            return;
        }
        match field {
            Field::Title => self.title = one_line(),
            Field::Content => self.content = value,
            Field::Created => self.created = Some(format_timestamp(trimmed)),
            Field::Tag => self.tags.extend(one_line()),
            Field::Author => self.author = one_line(),
            Field::Source => self.source = one_line(),
        }
    }

    /// Page `number`: the title as a heading, `Tags:`/`Author:`/`Created:`/`Source:` lines, then
    /// the content, whose own headings go below the title.
    fn write(self, number: u32, out: &mut TextBuilder) {
        out.begin_page(number, self.title.clone());
        if let Some(title) = &self.title {
            out.heading(1, title);
        }
        if !self.tags.is_empty() {
            out.push_line(&format!("Tags: {}", self.tags.join(", ")));
        }
        if let Some(author) = &self.author {
            out.push_line(&format!("Author: {author}"));
        }
        if let Some(created) = &self.created {
            out.push_line(&format!("Created: {created}"));
        }
        if let Some(source) = &self.source {
            out.push_line(&format!("Source: {source}"));
        }
        html::html_to_builder_under(&self.content, out, 1);
        out.end_page();
    }
}

/// `20230805T020000Z` as `2023-08-05T02:00:00Z`; anything else as written.
fn format_timestamp(raw: &str) -> String {
    let b = raw.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if b.len() == 16 && b[8] == b'T' && b[15] == b'Z' && digits(0..8) && digits(9..15) {
        format!(
            "{}-{}-{}T{}:{}:{}Z",
            &raw[0..4],
            &raw[4..6],
            &raw[6..8],
            &raw[9..11],
            &raw[11..13],
            &raw[13..15]
        )
    } else {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_readable() {
        assert_eq!(format_timestamp("20230805T020000Z"), "2023-08-05T02:00:00Z");
        assert_eq!(format_timestamp("yesterday"), "yesterday");
        assert_eq!(format_timestamp("2023080ST020000Z"), "2023080ST020000Z");
    }
}
