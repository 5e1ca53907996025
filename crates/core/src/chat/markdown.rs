//! Answer Markdown to safe HTML for the chat window: pulldown-cmark, with raw HTML shown as
//! text, only http(s)/mailto links, no remote images, and `[n]` citations turned into chips.
//!
//! Rendering happens in Rust so the UI never parses model output itself: whatever a model (or a
//! quoted document) writes, the window receives HTML built only from the elements made here.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

/// Renders answer Markdown to HTML that is safe to insert into the page. Citation markers
/// `[1]`, `[1, 2]`, `[1][2]` become `<button class="cite" data-cite="1">1</button>`.
pub fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut events = Vec::new();
    let mut in_code = false;
    let mut image_depth = 0usize;
    // The parser may split "[1]" into several text events; citations are found in the joined run.
    let mut text_run = String::new();
    for event in Parser::new_ext(markdown, options) {
        if let Event::Text(text) = &event {
            if !in_code && image_depth == 0 {
                text_run.push_str(text);
                continue;
            }
        }
        if !text_run.is_empty() {
            citation_chips(&std::mem::take(&mut text_run), &mut events);
        }
        match event {
            Event::Start(Tag::CodeBlock(_)) => {
                in_code = true;
                events.push(event);
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                events.push(event);
            }
            // Raw HTML from a model or a quoted document is shown, never interpreted.
            Event::Html(html) | Event::InlineHtml(html) => events.push(Event::Text(html)),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => events.push(Event::Start(Tag::Link {
                link_type,
                dest_url: safe_url(dest_url),
                title,
                id,
            })),
            // Images would load remote content (a tracking pixel in a document); show the alt text.
            Event::Start(Tag::Image { .. }) => image_depth += 1,
            Event::End(TagEnd::Image) => image_depth = image_depth.saturating_sub(1),
            Event::Text(text) if image_depth > 0 => events.push(Event::Text(text)),
            other => events.push(other),
        }
    }
    if !text_run.is_empty() {
        citation_chips(&text_run, &mut events);
    }
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("mailto:")
    {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

/// Splits text at citation markers, pushing text and chip events.
fn citation_chips<'a>(text: &str, events: &mut Vec<Event<'a>>) {
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inner = &after[..close];
        let numbers: Option<Vec<u32>> = inner
            .split([',', '，', '、'])
            .map(|n| {
                n.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=99).contains(n))
            })
            .collect();
        match numbers {
            Some(numbers) if !inner.trim().is_empty() => {
                if open > 0 {
                    events.push(Event::Text(CowStr::from(rest[..open].to_owned())));
                }
                for n in numbers {
                    events.push(Event::InlineHtml(CowStr::from(format!(
                        "<button type=\"button\" class=\"cite\" data-cite=\"{n}\">{n}</button>"
                    ))));
                }
                rest = &after[close + 1..];
            }
            _ => {
                events.push(Event::Text(CowStr::from(rest[..=open].to_owned())));
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        events.push(Event::Text(CowStr::from(rest.to_owned())));
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_renders() {
        let html = render("# 标题\n\n**粗体** 和 `代码`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert!(html.contains("<h1>标题</h1>"));
        assert!(html.contains("<strong>粗体</strong>"));
        assert!(html.contains("<code>代码</code>"));
        assert!(html.contains("<table>"));
    }

    #[test]
    fn raw_html_and_scripts_are_text() {
        let html = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>");
        assert!(!html.contains("<script"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn only_safe_links_and_no_images() {
        let html = render(
            "[x](javascript:alert(1)) [y](https://example.com) ![pix](https://t.example/p.gif)",
        );
        assert!(html.contains("href=\"#\""));
        assert!(html.contains("href=\"https://example.com\""));
        assert!(!html.contains("<img"));
        assert!(!html.contains("t.example"));
    }

    #[test]
    fn citations_become_chips_outside_code() {
        let html = render(
            "金额为五十万元[1]，付款分两期[2, 3]。见 [注] 和 [0]。\n\n```\nlet a = b[1];\n```",
        );
        assert!(html
            .contains("五十万元<button type=\"button\" class=\"cite\" data-cite=\"1\">1</button>"));
        assert!(html.contains("data-cite=\"2\""));
        assert!(html.contains("data-cite=\"3\""));
        assert!(html.contains("[注]"));
        assert!(html.contains("[0]"));
        assert!(html.contains("let a = b[1];"));
    }

    #[test]
    fn unfinished_markdown_of_a_streaming_answer_renders() {
        let html = render("部分答案 **还没结束 [1");
        assert!(html.contains("部分答案"));
        assert!(!html.contains("data-cite"));
    }
}
