//! E-mail messages (`.eml`, MIME) with mail-parser: main headers, the body (plain text preferred,
//! else HTML), then attachments: text-like ones with their text, attached mails read likewise.

use std::borrow::Cow;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{
    Address, HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::builder::TextBuilder;
use crate::formats::{csv, html};
use crate::{markdown, text, ExtractError, Extracted, Source};

/// An e-mail: `Subject:`, `From:`, `To:`, `Cc:`, `Date:` lines, the body, the attachments.
pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let message = MessageParser::default()
        .parse(src.bytes)
        .ok_or_else(|| src.corrupt("no message headers found"))?;
    // mail-parser reads any `name: value` lines as headers; a real message has standard ones.
    if message.headers().iter().all(|h| h.name.is_other()) {
        return Err(src.corrupt("no standard e-mail headers (From, To, Subject, Date, ...)"));
    }
    let mut builder = TextBuilder::new();
    let mut warnings = Vec::new();
    write_message(&message, &mut builder, 1, &mut warnings);
    let mut extracted = src.extracted(builder);
    extracted.title = subject(&message);
    extracted.warnings = warnings;
    Ok(extracted)
}

/// Writes one message; `level` is the heading level of its subject line (attachments go one
/// level below, so their text has the subject and the file name as heading path).
fn write_message(
    message: &Message<'_>,
    out: &mut TextBuilder,
    level: u8,
    warnings: &mut Vec<String>,
) {
    if let Some(subject) = subject(message) {
        out.heading(level, &format!("Subject: {subject}"));
    }
    let addresses = [
        ("From", message.from()),
        ("To", message.to()),
        ("Cc", message.cc()),
    ];
    for (name, address) in addresses {
        if let Some(list) = address.map(format_addresses).filter(|l| !l.is_empty()) {
            out.push_line(&format!("{name}: {list}"));
        }
    }
    // As written in the message, which is what its reader saw.
    let date = message
        .header_raw(HeaderName::Date)
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty());
    if let Some(date) = date {
        out.push_line(&format!("Date: {date}"));
    }

    // mail-parser lists the parts a reader would show as the text body: the text/plain
    // alternatives, or the HTML ones when there is no plain text. Inline images are listed too;
    // they are named with the attachments.
    for part in message.text_bodies() {
        match &part.body {
            PartType::Text(body) => out.push_block(&text::normalize_newlines(body)),
            PartType::Html(body) => html::html_to_builder_under(body, out, level),
            _ => {}
        }
    }

    let attachment_level = level.saturating_add(1);
    for (index, part) in message.attachments().enumerate() {
        let name = part
            .attachment_name()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        let label = name.clone().unwrap_or_else(|| match content_type(part) {
            Some(ct) => format!("part {} ({ct})", index + 1),
            None => format!("part {}", index + 1),
        });
        match attachment_text(message, part, name.as_deref()) {
            Some(AttachmentText::Plain(body)) => {
                out.heading(attachment_level, &format!("Attachment: {label}"));
                out.push_block(&body);
            }
            Some(AttachmentText::Html(body)) => {
                out.heading(attachment_level, &format!("Attachment: {label}"));
                html::html_to_builder_under(&body, out, attachment_level);
            }
            Some(AttachmentText::Csv(body)) => {
                out.heading(attachment_level, &format!("Attachment: {label}"));
                match csv::csv_to_builder(&body, out) {
                    Ok(csv_warnings) => warnings.extend(
                        csv_warnings
                            .into_iter()
                            .map(|w| format!("attachment {label}: {w}")),
                    ),
                    Err(e) => warnings.push(format!("attachment {label}: {e}")),
                }
            }
            Some(AttachmentText::Message(nested)) => {
                out.heading(attachment_level, &format!("Attachment: {label}"));
                write_message(nested, out, attachment_level.saturating_add(1), warnings);
            }
            None => out.push_block(&format!("Attachment: {label} (not indexed)")),
        }
    }
}

/// The text of an attachment, by kind, or `None` for a binary attachment.
enum AttachmentText<'m> {
    Plain(String),
    Html(String),
    Csv(String),
    Message(&'m Message<'m>),
}

/// What an attachment holds as text: text/* parts (decoded with their charset), and parts of
/// any type whose file name says text (`.txt`, `.csv`, `.md`, `.html`, ...).
fn attachment_text<'m>(
    message: &Message<'_>,
    part: &'m MessagePart<'m>,
    name: Option<&str>,
) -> Option<AttachmentText<'m>> {
    let extension = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let by_name = extension.as_deref().and_then(|ext| match ext {
        "txt" | "text" | "log" => Some(TextKind::Plain),
        "md" | "markdown" => Some(TextKind::Markdown),
        "csv" | "tsv" => Some(TextKind::Csv),
        "html" | "htm" | "xhtml" => Some(TextKind::Html),
        _ => None,
    });
    let by_type = content_type(part).and_then(|ct| match ct.as_str() {
        "text/html" => Some(TextKind::Html),
        "text/csv" | "text/tab-separated-values" => Some(TextKind::Csv),
        "text/markdown" | "text/x-markdown" => Some(TextKind::Markdown),
        t if t.starts_with("text/") => Some(TextKind::Plain),
        _ => None,
    });
    match &part.body {
        PartType::Message(nested) => Some(AttachmentText::Message(nested)),
        PartType::Text(body) | PartType::Html(body) => {
            let kind = by_name.or(by_type).unwrap_or(TextKind::Plain);
            let body = redecode_if_lossy(message, part, body);
            Some(kind.wrap(&body))
        }
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            let kind = by_name?;
            let decoded = if kind == TextKind::Html {
                html::decode_html(std::path::Path::new(""), bytes).ok()?
            } else {
                text::decode(std::path::Path::new(""), bytes).ok()?
            };
            Some(kind.wrap(&decoded.text))
        }
        PartType::Multipart(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Plain,
    Markdown,
    Csv,
    Html,
}

impl TextKind {
    fn wrap<'m>(self, body: &str) -> AttachmentText<'m> {
        let body = text::normalize_newlines(body);
        match self {
            Self::Plain => AttachmentText::Plain(body),
            Self::Markdown => AttachmentText::Plain(markdown::to_plain_text(&body)),
            Self::Csv => AttachmentText::Csv(body),
            Self::Html => AttachmentText::Html(body),
        }
    }
}

/// A text part without a charset mail-parser knows was decoded as lossy UTF-8; if that lost
/// characters, decode its raw bytes again with the statistical guess (GBK attachments sent
/// without a charset are common).
fn redecode_if_lossy<'a>(
    message: &Message<'_>,
    part: &MessagePart<'_>,
    body: &'a str,
) -> Cow<'a, str> {
    if !body.contains('\u{FFFD}') {
        return Cow::Borrowed(body);
    }
    let raw = message
        .raw_message()
        .get(part.offset_body as usize..part.offset_end as usize);
    let bytes = match (raw, part.encoding) {
        (Some(raw), mail_parser::Encoding::Base64) => base64_decode(raw),
        (Some(raw), mail_parser::Encoding::QuotedPrintable) => quoted_printable_decode(raw),
        (Some(raw), mail_parser::Encoding::None) => Some(raw.to_vec()),
        (None, _) => None,
    };
    match bytes.and_then(|b| text::decode(std::path::Path::new(""), &b).ok()) {
        Some(decoded) if !decoded.text.contains('\u{FFFD}') => Cow::Owned(decoded.text),
        _ => Cow::Borrowed(body),
    }
}

fn subject(message: &Message<'_>) -> Option<String> {
    message
        .subject()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
}

/// `type/subtype` in lowercase.
fn content_type(part: &MessagePart<'_>) -> Option<String> {
    let ct = part.content_type()?;
    Some(match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
        None => ct.ctype().to_ascii_lowercase(),
    })
}

/// `张伟 <zhang.wei@example.com>, team@example.com`.
fn format_addresses(address: &Address<'_>) -> String {
    address
        .iter()
        .filter_map(|a| {
            let name = a.name().map(str::trim).filter(|n| !n.is_empty());
            let email = a.address().map(str::trim).filter(|e| !e.is_empty());
            match (name, email) {
                (Some(n), Some(e)) if n != e => Some(format!("{n} <{e}>")),
                (_, Some(e)) => Some(e.to_owned()),
                (Some(n), None) => Some(n.to_owned()),
                (None, None) => None,
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
