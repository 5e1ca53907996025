//! PowerPoint 97-2003 (.ppt): one page per slide from the `PowerPoint Document` record stream,
//! slides in presentation order through the persist directory, speaker notes after their slide.

use std::collections::{HashMap, HashSet};

use super::doc::ole::{self, u32_at, utf16le};
use crate::builder::TextBuilder;
use crate::{ExtractError, Extracted, Source};

const RT_DOCUMENT: u16 = 0x03E8;
const RT_SLIDE: u16 = 0x03EE;
const RT_SLIDE_ATOM: u16 = 0x03EF;
const RT_NOTES: u16 = 0x03F0;
const RT_SLIDE_PERSIST_ATOM: u16 = 0x03F3;
const RT_TEXT_HEADER_ATOM: u16 = 0x0F9F;
const RT_TEXT_CHARS_ATOM: u16 = 0x0FA0;
const RT_TEXT_BYTES_ATOM: u16 = 0x0FA8;
const RT_CSTRING: u16 = 0x0FBA;
const RT_SLIDE_LIST_WITH_TEXT: u16 = 0x0FF0;
const RT_USER_EDIT_ATOM: u16 = 0x0FF5;
const RT_CURRENT_USER_ATOM: u16 = 0x0FF6;
const RT_PERSIST_DIRECTORY_ATOM: u16 = 0x1772;
const RT_COMMENT10: u16 = 0x2EE0;
/// SlideListWithText instances: the slides' list and the notes' list.
const SLWT_SLIDES: u16 = 0;
const SLWT_NOTES: u16 = 2;
/// TextHeaderAtom types that are slide titles (Title, CenterTitle).
const TITLE_TYPES: [u32; 2] = [0, 6];
/// `headerToken` of a CurrentUserAtom whose document is encrypted.
const ENCRYPTED_TOKEN: u32 = 0xF3D1_C4DF;
/// The line that introduces a slide's speaker notes (as the .pptx reader writes it).
const NOTES_LABEL: &str = "Notes:";
/// Containers nest a dozen levels in real files; deeper is hostile and would exhaust the stack.
const MAX_DEPTH: usize = 48;
/// Edits chained through UserEditAtoms; real files have a few.
const MAX_EDITS: usize = 4096;

pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    ole::guarded(src, || extract_ppt(src))
}

fn extract_ppt(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let mut file = ole::open(src)?;
    let encrypted = || ExtractError::Encrypted {
        path: src.path.to_owned(),
    };
    if file.is_stream("EncryptedSummary") {
        return Err(encrypted());
    }
    let stream = ole::read_stream(src, &mut file, "PowerPoint Document")?
        .ok_or_else(|| src.corrupt("no PowerPoint Document stream (not a PowerPoint file)"))?;
    let current_edit = match ole::read_stream(src, &mut file, "Current User")? {
        Some(user) => match current_user(&user) {
            Some((token, _)) if token == ENCRYPTED_TOKEN => return Err(encrypted()),
            Some((_, offset)) => Some(offset),
            None => None,
        },
        None => None,
    };
    if records(&stream).next().is_none() {
        return Err(src.corrupt("the PowerPoint Document stream holds no records"));
    }

    let slides = current_edit
        .and_then(|offset| slides_by_persist_directory(&stream, offset))
        .filter(|slides| !slides.is_empty())
        // Damaged directory: the slide containers in the order they are stored.
        .unwrap_or_else(|| slides_in_stream_order(&stream));

    let mut b = TextBuilder::new();
    for (i, slide) in slides.iter().enumerate() {
        let title = slide
            .texts
            .iter()
            .find(|t| t.is_title)
            .map(|t| t.text.clone());
        b.begin_page(i as u32 + 1, title.clone());
        let mut title_done = false;
        for t in &slide.texts {
            if t.is_title && !title_done {
                b.heading(1, &t.text);
                title_done = true;
            } else {
                b.push_block(&t.text);
            }
        }
        if !slide.notes.is_empty() {
            b.push_block(NOTES_LABEL);
            for line in slide.notes.iter().flat_map(|note| note.lines()) {
                b.push_line(line);
            }
        }
    }
    let mut x = src.extracted(b);
    x.title = ole::summary_title(src, &mut file);
    Ok(x)
}

/// One record: header fields and its body (clamped to the bytes actually present).
#[derive(Clone, Copy)]
struct Record<'a> {
    version: u16,
    instance: u16,
    kind: u16,
    body: &'a [u8],
}

impl Record<'_> {
    fn is_container(&self) -> bool {
        self.version == 0xF
    }
}

/// The records laid end to end in `data`; stops at a truncated header.
fn records(data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = data.get(at..at.checked_add(8)?)?;
        let ver_inst = u16::from_le_bytes([head[0], head[1]]);
        let kind = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let start = at + 8;
        let end = start.saturating_add(len).min(data.len());
        at = end;
        Some(Record {
            version: ver_inst & 0xF,
            instance: ver_inst >> 4,
            kind,
            body: &data[start..end],
        })
    })
}

/// The record starting at `offset`, if it is of type `kind`.
fn record_at(data: &[u8], offset: usize, kind: u16) -> Option<Record<'_>> {
    records(data.get(offset..)?)
        .next()
        .filter(|r| r.kind == kind)
}

/// (headerToken, offsetToCurrentEdit) of the `Current User` stream.
fn current_user(data: &[u8]) -> Option<(u32, usize)> {
    let atom = records(data)
        .next()
        .filter(|r| r.kind == RT_CURRENT_USER_ATOM)?;
    Some((u32_at(atom.body, 4)?, u32_at(atom.body, 8)? as usize))
}

/// One slide's text in reading order.
#[derive(Default)]
struct Slide {
    texts: Vec<Text>,
    notes: Vec<String>,
}

struct Text {
    text: String,
    is_title: bool,
}

/// Slides in presentation order: the newest UserEditAtom leads to the persist directory
/// (persist id -> stream offset) and to the Document container, whose SlideListWithText lists
/// the slides; each slide names its notes. `None` when any link is broken.
fn slides_by_persist_directory(stream: &[u8], current_edit: usize) -> Option<Vec<Slide>> {
    let (directory, doc_persist) = persist_directory(stream, current_edit)?;
    let document = record_at(stream, *directory.get(&doc_persist)?, RT_DOCUMENT)?;

    // Notes persist ids by their notes id, which slides refer to.
    let mut notes_by_id = HashMap::new();
    for list in records(document.body)
        .filter(|r| r.kind == RT_SLIDE_LIST_WITH_TEXT && r.instance == SLWT_NOTES)
    {
        for atom in records(list.body).filter(|r| r.kind == RT_SLIDE_PERSIST_ATOM) {
            if let (Some(persist), Some(id)) = (u32_at(atom.body, 0), u32_at(atom.body, 12)) {
                notes_by_id.insert(id, persist);
            }
        }
    }

    let mut slides = Vec::new();
    for list in records(document.body)
        .filter(|r| r.kind == RT_SLIDE_LIST_WITH_TEXT && r.instance == SLWT_SLIDES)
    {
        // Text atoms after a SlidePersistAtom (outline text) belong to that slide.
        let mut current: Option<Slide> = None;
        let mut last_type = None;
        for r in records(list.body) {
            if r.kind == RT_SLIDE_PERSIST_ATOM {
                slides.extend(current.take());
                last_type = None;
                let mut slide = Slide::default();
                if let Some(container) = u32_at(r.body, 0)
                    .and_then(|persist| directory.get(&persist))
                    .and_then(|&offset| record_at(stream, offset, RT_SLIDE))
                {
                    collect_text(container.body, 0, &mut None, &mut slide.texts);
                    let notes = records(container.body)
                        .find(|r| r.kind == RT_SLIDE_ATOM)
                        .and_then(|atom| u32_at(atom.body, 16))
                        .filter(|id| *id != 0)
                        .and_then(|id| notes_by_id.get(&id))
                        .and_then(|persist| directory.get(persist))
                        .and_then(|&offset| record_at(stream, offset, RT_NOTES));
                    if let Some(notes) = notes {
                        let mut texts = Vec::new();
                        collect_text(notes.body, 0, &mut None, &mut texts);
                        slide.notes = texts.into_iter().map(|t| t.text).collect();
                    }
                }
                current = Some(slide);
            } else if let Some(slide) = current.as_mut() {
                text_atom(r, &mut last_type, &mut slide.texts);
            }
        }
        slides.extend(current.take());
    }
    // Outline text in the list usually duplicates nothing, but when a file carries the same
    // text both there and in the slide's drawing, index it once.
    for slide in &mut slides {
        let mut seen = HashSet::new();
        slide.texts.retain(|t| seen.insert(t.text.clone()));
    }
    Some(slides)
}

/// The persist directory merged over all edits (newest entry wins) and the document's persist id.
fn persist_directory(stream: &[u8], current_edit: usize) -> Option<(HashMap<u32, usize>, u32)> {
    let mut directory = HashMap::new();
    let mut doc_persist = None;
    let mut visited = HashSet::new();
    let mut edit_at = current_edit;
    for _ in 0..MAX_EDITS {
        if !visited.insert(edit_at) {
            break;
        }
        let edit = record_at(stream, edit_at, RT_USER_EDIT_ATOM)?;
        let last_edit = u32_at(edit.body, 8)? as usize;
        let dir_at = u32_at(edit.body, 12)? as usize;
        doc_persist.get_or_insert(u32_at(edit.body, 16)?);
        let dir = record_at(stream, dir_at, RT_PERSIST_DIRECTORY_ATOM)?;
        let mut at = 0;
        while let Some(entry) = u32_at(dir.body, at) {
            let (first, count) = (entry & 0xF_FFFF, (entry >> 20) as usize);
            for k in 0..count {
                let Some(offset) = u32_at(dir.body, at + 4 + k * 4) else {
                    break;
                };
                directory
                    .entry(first.saturating_add(k as u32))
                    .or_insert(offset as usize);
            }
            at += 4 + count * 4;
        }
        if last_edit == 0 {
            break;
        }
        edit_at = last_edit;
    }
    Some((directory, doc_persist?))
}

/// Fallback: every top-level slide container in stream order, notes left out (without the
/// directory they cannot be matched to slides reliably).
fn slides_in_stream_order(stream: &[u8]) -> Vec<Slide> {
    records(stream)
        .filter(|r| r.kind == RT_SLIDE)
        .map(|r| {
            let mut slide = Slide::default();
            collect_text(r.body, 0, &mut None, &mut slide.texts);
            slide
        })
        .collect()
}

/// Text atoms anywhere below a container (shapes' client text boxes, comments), in order.
fn collect_text(data: &[u8], depth: usize, last_type: &mut Option<u32>, out: &mut Vec<Text>) {
    if depth > MAX_DEPTH {
        return;
    }
    for r in records(data) {
        if r.is_container() {
            if r.kind == RT_COMMENT10 {
                // Comment text is the CString with instance 1 (0 is the author, 2 the initials).
                for s in records(r.body).filter(|s| s.kind == RT_CSTRING && s.instance == 1) {
                    push_text(out, &utf16le(s.body), false);
                }
            } else {
                collect_text(r.body, depth + 1, last_type, out);
            }
        } else {
            text_atom(r, last_type, out);
        }
    }
}

/// Handles one atom: TextHeaderAtom sets the type of the text that follows; text atoms add it.
fn text_atom(r: Record<'_>, last_type: &mut Option<u32>, out: &mut Vec<Text>) {
    match r.kind {
        RT_TEXT_HEADER_ATOM => *last_type = u32_at(r.body, 0),
        RT_TEXT_CHARS_ATOM | RT_TEXT_BYTES_ATOM => {
            let text = if r.kind == RT_TEXT_CHARS_ATOM {
                utf16le(r.body)
            } else {
                // TextBytesAtom holds the low bytes of UTF-16 units: Latin-1.
                r.body.iter().map(|&b| char::from(b)).collect()
            };
            let is_title = last_type.is_some_and(|t| TITLE_TYPES.contains(&t));
            push_text(out, &text, is_title);
            *last_type = None;
        }
        _ => {}
    }
}

/// Adds a text with PowerPoint's breaks as newlines; drops blanks and the `*` that stands for
/// a date, slide-number or footer field.
fn push_text(out: &mut Vec<Text>, raw: &str, is_title: bool) {
    let text: String = raw
        .chars()
        .filter_map(|c| match c {
            '\r' | '\u{b}' => Some('\n'),
            '\t' => Some('\t'),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let text = text.trim();
    if text.is_empty() || text == "*" {
        return;
    }
    out.push(Text {
        text: text.to_owned(),
        is_title,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ver: u16, inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&(ver | inst << 4).to_le_bytes());
        r.extend_from_slice(&kind.to_le_bytes());
        r.extend_from_slice(&(body.len() as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    fn chars(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn text_atoms_with_titles_in_nested_containers() {
        let mut inner = rec(0, 0, RT_TEXT_HEADER_ATOM, &0u32.to_le_bytes());
        inner.extend(rec(0, 0, RT_TEXT_CHARS_ATOM, &chars("标题")));
        inner.extend(rec(0, 0, RT_TEXT_HEADER_ATOM, &1u32.to_le_bytes()));
        inner.extend(rec(0, 0, RT_TEXT_BYTES_ATOM, b"body\rline\x0bbreak"));
        inner.extend(rec(0, 0, RT_TEXT_CHARS_ATOM, &chars("*")));
        let slide = rec(0xF, 0, 0xF00D, &inner);
        let mut out = Vec::new();
        collect_text(&slide, 0, &mut None, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].is_title);
        assert_eq!(out[0].text, "标题");
        assert_eq!(out[1].text, "body\nline\nbreak");
    }

    fn slide(title: &str, notes_id: u32) -> Vec<u8> {
        let mut atom = vec![0u8; 24];
        atom[16..20].copy_from_slice(&notes_id.to_le_bytes());
        let mut body = rec(2, 0, RT_SLIDE_ATOM, &atom);
        let mut text = rec(0, 0, RT_TEXT_HEADER_ATOM, &0u32.to_le_bytes());
        text.extend(rec(0, 0, RT_TEXT_CHARS_ATOM, &chars(title)));
        body.extend(rec(0xF, 0, 0xF00D, &text));
        rec(0xF, 0, RT_SLIDE, &body)
    }

    fn persist_atom(persist: u32, id: u32) -> Vec<u8> {
        let mut a = vec![0u8; 20];
        a[0..4].copy_from_slice(&persist.to_le_bytes());
        a[12..16].copy_from_slice(&id.to_le_bytes());
        rec(0, 0, RT_SLIDE_PERSIST_ATOM, &a)
    }

    #[test]
    fn slides_follow_the_slide_list_not_the_stream() {
        // Stored: slide B (persist 1), slide A (persist 2), A's notes (3), the document (4);
        // the document lists A before B.
        let mut stream = Vec::new();
        let mut offsets = Vec::new();
        offsets.push(stream.len() as u32);
        stream.extend(slide("B", 0));
        offsets.push(stream.len() as u32);
        stream.extend(slide("A", 0x300));
        offsets.push(stream.len() as u32);
        let mut notes_text = rec(0, 0, RT_TEXT_HEADER_ATOM, &2u32.to_le_bytes());
        notes_text.extend(rec(0, 0, RT_TEXT_CHARS_ATOM, &chars("notes of A")));
        stream.extend(rec(0xF, 0, RT_NOTES, &rec(0xF, 0, 0xF00D, &notes_text)));
        offsets.push(stream.len() as u32);
        let mut slides = persist_atom(2, 256);
        slides.extend(persist_atom(1, 257));
        let mut document = rec(0xF, SLWT_SLIDES, RT_SLIDE_LIST_WITH_TEXT, &slides);
        document.extend(rec(
            0xF,
            SLWT_NOTES,
            RT_SLIDE_LIST_WITH_TEXT,
            &persist_atom(3, 0x300),
        ));
        stream.extend(rec(0xF, 0, RT_DOCUMENT, &document));
        let directory_at = stream.len() as u32;
        let mut directory = (1u32 | (offsets.len() as u32) << 20).to_le_bytes().to_vec();
        directory.extend(offsets.iter().flat_map(|o| o.to_le_bytes()));
        stream.extend(rec(0, 0, RT_PERSIST_DIRECTORY_ATOM, &directory));
        let edit_at = stream.len();
        let mut edit = vec![0u8; 28];
        edit[12..16].copy_from_slice(&directory_at.to_le_bytes());
        edit[16..20].copy_from_slice(&4u32.to_le_bytes());
        stream.extend(rec(0, 0, RT_USER_EDIT_ATOM, &edit));

        let slides = slides_by_persist_directory(&stream, edit_at).expect("directory resolves");
        let titles: Vec<&str> = slides.iter().map(|s| s.texts[0].text.as_str()).collect();
        assert_eq!(titles, ["A", "B"]);
        assert_eq!(slides[0].notes, ["notes of A"]);
        assert!(slides[1].notes.is_empty());
        let stored: Vec<String> = slides_in_stream_order(&stream)
            .into_iter()
            .map(|s| s.texts[0].text.clone())
            .collect();
        assert_eq!(stored, ["B", "A"]);
        // A broken link (edit atom offset) gives no directory, hence the stream-order fallback.
        assert!(slides_by_persist_directory(&stream, edit_at + 1).is_none());
    }

    #[test]
    fn truncated_and_deep_records_are_harmless() {
        let mut nested = rec(0, 0, RT_TEXT_CHARS_ATOM, &chars("deep"));
        for _ in 0..200 {
            nested = rec(0xF, 0, 0xF004, &nested);
        }
        let mut out = Vec::new();
        collect_text(&nested, 0, &mut None, &mut out);
        assert!(out.is_empty());
        let mut cut = rec(0, 0, RT_TEXT_CHARS_ATOM, &chars("abcdef"));
        cut.truncate(12);
        collect_text(&cut, 0, &mut None, &mut out);
        assert_eq!(out[0].text, "ab");
    }
}
