//! `TextBuilder`: accumulates extracted text block by block and records page (slide, sheet,
//! chapter) boundaries as character offsets, so every reader produces the same shape.

use crate::{Heading, PageSpan};

/// Builds the text of a document and its page spans.
#[derive(Debug, Default)]
pub(crate) struct TextBuilder {
    text: String,
    chars: usize,
    pages: Vec<PageSpan>,
    headings: Vec<Heading>,
    table_rows: Vec<(usize, usize)>,
    open_page: Option<(u32, usize, Option<String>)>,
}

impl TextBuilder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Ends the current page (if any) and starts page `number`, labelled e.g. with a sheet name.
    /// Pages are separated from each other by a blank line, which belongs to neither.
    pub(crate) fn begin_page(&mut self, number: u32, label: Option<String>) {
        self.end_page();
        if !self.text.is_empty() {
            self.ensure_blank_line();
        }
        self.open_page = Some((number, self.chars, label));
    }

    /// Ends the current page, if one is open.
    pub(crate) fn end_page(&mut self) {
        if let Some((number, start, label)) = self.open_page.take() {
            // Trailing newlines are separators, not page content.
            let trimmed = self.text.trim_end_matches('\n');
            let end = self.chars - (self.text.len() - trimmed.len());
            self.pages.push(PageSpan {
                number,
                start,
                end: end.max(start),
                label,
            });
        }
    }

    /// Appends inline text as is.
    pub(crate) fn push_str(&mut self, s: &str) {
        self.chars += s.chars().count();
        self.text.push_str(s);
    }

    /// Appends one character.
    pub(crate) fn push(&mut self, c: char) {
        self.chars += 1;
        self.text.push(c);
    }

    /// Ends the current line unless the text already ends one (or is empty).
    pub(crate) fn ensure_newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.push('\n');
        }
    }

    /// Leaves an empty line after the current text: the separator between blocks.
    pub(crate) fn ensure_blank_line(&mut self) {
        if self.text.is_empty() {
            return;
        }
        self.ensure_newline();
        if !self.text.ends_with("\n\n") {
            self.push('\n');
        }
    }

    /// Appends a block (paragraph, heading, table row, ...) on its own, separated by a blank line.
    /// Whitespace-only blocks are dropped.
    pub(crate) fn push_block(&mut self, block: &str) {
        let block = block.trim();
        if block.is_empty() {
            return;
        }
        self.ensure_blank_line();
        self.push_str(block);
    }

    /// Appends a heading as its own block and records it (level 1 = top) for heading paths.
    pub(crate) fn heading(&mut self, level: u8, title: &str) {
        let title = title.trim();
        if title.is_empty() {
            return;
        }
        self.ensure_blank_line();
        self.headings.push(Heading {
            level: level.max(1),
            title: title.to_owned(),
            start: self.chars,
        });
        self.push_str(title);
    }

    /// Appends one table row under the previous line, each cell labelled with its column name
    /// (`名称: 苹果 | 数量: 3`), so a row read alone still says what its values mean.
    pub(crate) fn table_row(&mut self, headers: &[String], cells: &[String]) {
        let line = table_row_text(headers, cells);
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        self.ensure_newline();
        let start = self.chars;
        self.push_str(line);
        self.table_rows.push((start, self.chars));
    }

    /// Character spans of the table rows written so far (chunk cuts avoid their insides).
    pub(crate) fn table_rows(&self) -> Vec<(usize, usize)> {
        self.table_rows.clone()
    }

    /// Appends a line (e.g. a table row) directly under the previous one.
    pub(crate) fn push_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        self.ensure_newline();
        self.push_str(line);
    }

    /// The text (trailing whitespace removed), the page spans and the headings.
    pub(crate) fn finish(mut self) -> (String, Vec<PageSpan>, Vec<Heading>) {
        self.end_page();
        let trimmed_len = self.text.trim_end().len();
        let removed = self.text[trimmed_len..].chars().count();
        self.text.truncate(trimmed_len);
        let total = self.chars - removed;
        for p in &mut self.pages {
            p.end = p.end.min(total);
            p.start = p.start.min(p.end);
        }
        self.headings.retain(|h| h.start < total);
        (self.text, self.pages, self.headings)
    }
}

/// One table row as text: `header: cell` pairs joined by ` | `; cells without a header (or a
/// header without text) stand alone; empty cells are left out. Newlines inside cells become spaces
/// so a row stays one line.
pub(crate) fn table_row_text(headers: &[String], cells: &[String]) -> String {
    let mut parts = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.split_whitespace().collect::<Vec<_>>().join(" ");
        if cell.is_empty() {
            continue;
        }
        match headers.get(i).map(|h| h.trim()).filter(|h| !h.is_empty()) {
            Some(h) => parts.push(format!("{h}: {cell}")),
            None => parts.push(cell),
        }
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_and_table_rows() {
        let mut b = TextBuilder::new();
        b.heading(1, "报告");
        b.push_block("正文。");
        b.heading(2, "表格");
        let h = vec!["地区".to_owned(), "营收".to_owned(), String::new()];
        b.table_row(
            &h,
            &[
                "华东".to_owned(),
                "1280.50".to_owned(),
                "备注\n两行".to_owned(),
            ],
        );
        b.table_row(&h, &["华南".to_owned(), String::new()]);
        let b_rows = b.table_rows();
        let (text, _, headings) = b.finish();
        for &(s, e) in &b_rows {
            let row: String = text.chars().skip(s).take(e - s).collect();
            assert!(row.starts_with("地区: ") && !row.contains('\n'), "{row:?}");
        }
        assert_eq!(
            text,
            "报告\n\n正文。\n\n表格\n地区: 华东 | 营收: 1280.50 | 备注 两行\n地区: 华南"
        );
        assert_eq!(headings.len(), 2);
        assert_eq!(b_rows, vec![(12, 40), (41, 47)]);
        assert_eq!(headings[1].title, "表格");
        assert_eq!(
            text.chars()
                .skip(headings[1].start)
                .take(2)
                .collect::<String>(),
            "表格"
        );
    }

    #[test]
    fn pages_cover_their_text_only() {
        let mut b = TextBuilder::new();
        b.begin_page(1, None);
        b.push_block("第一页");
        b.push_block("more");
        b.begin_page(2, Some("Sheet2".into()));
        b.push_block("第二页");
        let (text, pages, _) = b.finish();
        assert_eq!(text, "第一页\n\nmore\n\n第二页");
        let slice = |p: &PageSpan| {
            text.chars()
                .skip(p.start)
                .take(p.end - p.start)
                .collect::<String>()
        };
        assert_eq!(slice(&pages[0]), "第一页\n\nmore");
        assert_eq!(slice(&pages[1]), "第二页");
        assert_eq!(pages[1].label.as_deref(), Some("Sheet2"));
    }

    #[test]
    fn empty_pages_are_kept_with_empty_spans() {
        let mut b = TextBuilder::new();
        b.begin_page(1, None);
        b.push_block("a");
        b.begin_page(2, None);
        b.begin_page(3, None);
        b.push_block("c");
        let (_, pages, _) = b.finish();
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[1].start, pages[1].end);
    }
}
