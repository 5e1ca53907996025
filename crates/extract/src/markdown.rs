//! Markdown to plain text with pulldown-cmark: block structure becomes line breaks,
//! markup disappears, code and link text stay.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::{ExtractError, Extracted, Source};

/// Markdown: decoded like plain text, then reduced to its visible text.
pub(crate) fn extract(src: &Source<'_>) -> Result<Extracted, ExtractError> {
    let decoded = crate::text::decode(src.path, src.bytes)?;
    Ok(decoded.into_extracted(src, |t| to_plain_text(&crate::text::normalize_newlines(t))))
}

pub(crate) fn to_plain_text(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let parser = Parser::new_ext(
        source,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    );
    let mut lists = 0usize;
    for event in parser {
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) => block_break(&mut out, false),
            Event::Start(Tag::List(_)) => lists += 1,
            Event::End(TagEnd::List(_)) => {
                // A list ends like a paragraph; a nested one ends with its parent's item.
                lists = lists.saturating_sub(1);
                block_break(&mut out, lists == 0);
            }
            Event::Start(Tag::TableCell) if !out.ends_with('\n') && !out.is_empty() => {
                out.push_str(" | ")
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::Table,
            ) => block_break(&mut out, true),
            Event::End(TagEnd::TableHead | TagEnd::TableRow | TagEnd::Item) => {
                block_break(&mut out, false)
            }
            Event::Rule => block_break(&mut out, true),
            _ => {}
        }
    }
    out.trim_end().to_owned()
}

/// Ends the current line, and with `blank` also leaves an empty line, without stacking breaks.
fn block_break(out: &mut String, blank: bool) {
    if out.is_empty() {
        return;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if blank && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::to_plain_text;

    #[test]
    fn headings_paragraphs_and_lists() {
        let md = "# 标题\n\n第一段**加粗**文字。\n\n- 甲\n- 乙\n\n```\ncode()\n```\n";
        assert_eq!(
            to_plain_text(md),
            "标题\n\n第一段加粗文字。\n\n甲\n乙\n\ncode()"
        );
    }

    #[test]
    fn nested_list_stays_tight_and_a_list_ends_like_a_paragraph() {
        let md = "- 甲\n  - 甲一\n- 乙\n\n后文。\n";
        assert_eq!(to_plain_text(md), "甲\n甲一\n乙\n\n后文。");
    }

    #[test]
    fn table_rows_stay_on_one_line() {
        let md = "| 名称 | 数量 |\n|---|---|\n| 苹果 | 3 |\n";
        assert_eq!(to_plain_text(md), "名称 | 数量\n苹果 | 3");
    }
}
