//! Chinese-aware chunking: cut near the size limit at a sentence end (。！？；\n …),
//! else at a clause mark, else at whitespace, else hard; consecutive chunks overlap.

use serde::{Deserialize, Serialize};

/// Chunk size and overlap, in characters (Unicode scalar values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ChunkSpec {
    /// Maximum characters in a chunk.
    pub size: u32,
    /// Characters shared by consecutive chunks.
    pub overlap: u32,
}

impl Default for ChunkSpec {
    fn default() -> Self {
        Self {
            size: 512,
            overlap: 64,
        }
    }
}

impl ChunkSpec {
    /// Checks that the spec can make progress: a positive size and an overlap under half of it.
    pub fn validate(self) -> Result<Self, String> {
        if self.size < 16 {
            return Err(format!(
                "chunk size {} is too small (minimum 16)",
                self.size
            ));
        }
        if self.overlap * 2 >= self.size {
            return Err(format!(
                "chunk overlap {} must be less than half the chunk size {}",
                self.overlap, self.size
            ));
        }
        Ok(self)
    }
}

/// One chunk: a half-open span of character offsets and the text it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Offset of the first character, in Unicode scalar values.
    pub start: usize,
    /// Offset one past the last character.
    pub end: usize,
    /// The text of the span.
    pub text: String,
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '\n' | '…')
}

fn is_clause_mark(c: char) -> bool {
    matches!(c, '，' | '、' | '：' | ',' | ':' | '）' | ')')
}

fn is_closing(c: char) -> bool {
    matches!(
        c,
        '”' | '’' | '」' | '』' | '）' | ')' | '"' | '\'' | '》' | '】'
    )
}

/// Byte offset of every character boundary of `text` (one more than its characters), so
/// character spans slice the `&str` directly.
fn char_bounds(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect()
}

/// Splits `text` into chunks per `spec` (which must have passed [`ChunkSpec::validate`]).
/// Chunks cover the text without gaps; each starts `overlap` characters before the previous end.
pub fn split(text: &str, spec: ChunkSpec) -> Vec<Chunk> {
    split_keeping(text, &[], spec)
}

/// [`split`], avoiding cuts inside the `keep` spans (sorted, non-overlapping character ranges,
/// e.g. table rows): a cut that would fall inside one moves to its start, unless the span is
/// too long for that (then it is cut like any text).
pub fn split_keeping(text: &str, keep: &[(usize, usize)], spec: ChunkSpec) -> Vec<Chunk> {
    let size = spec.size as usize;
    let overlap = spec.overlap as usize;
    // Byte offset of every character boundary, so char spans slice the &str directly.
    let bounds = char_bounds(text);
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = Vec::with_capacity(n / size.saturating_sub(overlap).max(1) + 1);
    let mut start = 0;
    while start < n {
        let end = if n - start <= size {
            n
        } else {
            keep_whole(
                keep,
                cut_point(&chars, start, size, overlap),
                start + overlap,
            )
        };
        out.push(Chunk {
            start,
            end,
            text: text[bounds[start]..bounds[end]].to_owned(),
        });
        if end == n {
            break;
        }
        start = end - overlap;
    }
    out
}

/// Moves `cut` to the start of the `keep` span it falls inside, if that start is after
/// `floor` (so the next chunk still moves forward).
fn keep_whole(keep: &[(usize, usize)], cut: usize, floor: usize) -> usize {
    let i = keep.partition_point(|&(s, _)| s < cut);
    match i.checked_sub(1).and_then(|j| keep.get(j)) {
        Some(&(s, e)) if s < cut && cut < e && s > floor => s,
        _ => cut,
    }
}

/// Splits each of `regions` (half-open character ranges of `text`, e.g. its pages) on its own,
/// so no chunk crosses a region boundary, and avoids cutting inside the `keep` spans (table
/// rows); spans are offsets into the whole `text`. Without regions the whole text is one region.
pub fn split_regions(
    text: &str,
    regions: &[(usize, usize)],
    keep: &[(usize, usize)],
    spec: ChunkSpec,
) -> Vec<Chunk> {
    if regions.is_empty() {
        return split_keeping(text, keep, spec);
    }
    let bounds = char_bounds(text);
    let n = bounds.len() - 1;
    let mut out = Vec::new();
    for &(start, end) in regions {
        let (start, end) = (start.min(n), end.min(n));
        if start >= end {
            continue;
        }
        let region = &text[bounds[start]..bounds[end]];
        let local: Vec<(usize, usize)> = keep
            .iter()
            .filter(|&&(s, e)| s >= start && e <= end)
            .map(|&(s, e)| (s - start, e - start))
            .collect();
        out.extend(
            split_keeping(region, &local, spec)
                .into_iter()
                .map(|c| Chunk {
                    start: c.start + start,
                    end: c.end + start,
                    text: c.text,
                }),
        );
    }
    out
}

/// Where to end a chunk starting at `start`: the best boundary in its second half.
fn cut_point(chars: &[char], start: usize, size: usize, overlap: usize) -> usize {
    let hard = start + size;
    // Never cut so early that the next chunk would not move forward, nor in the first half.
    let earliest = start + (size / 2).max(overlap + 1);
    let window = &chars[earliest..hard];
    let after = |i: usize| {
        // Keep closing quotes and brackets with the sentence they end.
        let mut end = earliest + i + 1;
        while end < hard && is_closing(chars[end]) {
            end += 1;
        }
        end
    };
    if let Some(i) = window.iter().rposition(|&c| is_sentence_end(c)) {
        return after(i);
    }
    if let Some(i) = window.iter().enumerate().rposition(|(i, &c)| {
        c == '.'
            && chars
                .get(earliest + i + 1)
                .is_some_and(|c| c.is_whitespace())
    }) {
        return after(i);
    }
    if let Some(i) = window.iter().rposition(|&c| is_clause_mark(c)) {
        return after(i);
    }
    if let Some(i) = window.iter().rposition(|&c| c.is_whitespace()) {
        return earliest + i + 1;
    }
    hard
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each chunk's text is exactly the characters its span names.
    fn assert_spans_round_trip(text: &str, chunks: &[Chunk]) {
        for chunk in chunks {
            let expect: String = text
                .chars()
                .skip(chunk.start)
                .take(chunk.end - chunk.start)
                .collect();
            assert_eq!(chunk.text, expect);
        }
    }

    fn spec(size: u32, overlap: u32) -> ChunkSpec {
        ChunkSpec { size, overlap }.validate().expect("valid spec")
    }

    #[test]
    fn short_text_is_one_chunk() {
        let c = split("你好，世界。", spec(512, 64));
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].start, c[0].end), (0, 6));
    }

    #[test]
    fn cuts_at_sentence_end_before_hard_limit() {
        let sentence = "今天天气很好，我们去公园散步。"; // 15 chars
        let text = sentence.repeat(10);
        let c = split(&text, spec(40, 8));
        assert!(c.len() > 1);
        for chunk in &c[..c.len() - 1] {
            assert!(chunk.text.ends_with('。'), "chunk {:?}", chunk.text);
            assert!(chunk.end - chunk.start <= 40);
        }
    }

    #[test]
    fn closing_quote_stays_with_sentence() {
        let text = format!("{}他说：“好的。”{}", "甲".repeat(20), "乙".repeat(40));
        let c = split(&text, spec(32, 4));
        assert!(c[0].text.ends_with("。”"), "{:?}", c[0].text);
    }

    #[test]
    fn hard_cut_without_boundaries() {
        let text = "字".repeat(100);
        let c = split(&text, spec(32, 8));
        assert_eq!((c[0].start, c[0].end), (0, 32));
        assert_eq!((c[1].start, c[1].end), (24, 56));
    }

    #[test]
    fn covers_text_with_configured_overlap() {
        let text =
            "第一句话。第二句话比较长一些，有逗号。English sentence here. 第四句！\n新段落？"
                .repeat(30);
        for (size, overlap) in [(16, 0), (32, 8), (64, 16), (512, 64)] {
            let c = split(&text, spec(size, overlap));
            assert_eq!(c[0].start, 0);
            assert_eq!(c.last().map(|c| c.end), Some(text.chars().count()));
            for w in c.windows(2) {
                assert_eq!(w[1].start, w[0].end - overlap as usize);
                assert!(w[1].end > w[0].end);
            }
            assert_spans_round_trip(&text, &c);
            assert!(c
                .iter()
                .all(|chunk| chunk.end - chunk.start <= size as usize));
        }
    }

    #[test]
    fn regions_are_split_separately() {
        let text = format!("{}\n\n{}", "甲".repeat(50), "乙".repeat(50));
        let c = split_regions(&text, &[(0, 50), (52, 102)], &[], spec(32, 8));
        assert!(c.iter().all(|c| c.end <= 50 || c.start >= 52));
        assert!(c
            .iter()
            .all(|c| c.text.chars().all(|ch| ch == '甲') || c.text.chars().all(|ch| ch == '乙')));
        assert_eq!(c.last().map(|c| c.end), Some(102));
        assert_spans_round_trip(&text, &c);
    }

    #[test]
    fn table_rows_are_not_cut() {
        // Rows of 30 characters; a 64-character chunk must end at a row boundary.
        let rows: Vec<String> = (0..10)
            .map(|i| format!("地区: 华东{i:02} | 营收: 1280.50 | 同比增长: 15.2%"))
            .collect();
        let text = rows.join("\n");
        let mut keep = Vec::new();
        let mut at = 0;
        for r in &rows {
            let n = r.chars().count();
            keep.push((at, at + n));
            at += n + 1;
        }
        let chunks = split_keeping(&text, &keep, spec(64, 8));
        for c in &chunks[..chunks.len() - 1] {
            assert!(
                keep.iter().any(|&(s, _)| s == c.end) || keep.iter().any(|&(_, e)| e == c.end),
                "cut inside a row at {}: {:?}",
                c.end,
                c.text
            );
        }
    }

    #[test]
    fn invalid_specs_are_refused() {
        assert!(ChunkSpec {
            size: 8,
            overlap: 0
        }
        .validate()
        .is_err());
        assert!(ChunkSpec {
            size: 100,
            overlap: 50
        }
        .validate()
        .is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn text_strategy() -> impl Strategy<Value = String> {
        // Chinese, Latin, digits, punctuation that drives the cut rules, and newlines.
        proptest::collection::vec(
            prop_oneof![
                Just("的"),
                Just("营业收入"),
                Just("同比增长"),
                Just("。"),
                Just("，"),
                Just("！"),
                Just("？"),
                Just("；"),
                Just("\n"),
                Just(" "),
                Just("Revenue"),
                Just("."),
                Just("”"),
                Just("𠮷"),
                Just("12.5%"),
                Just(":"),
            ],
            0..400,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Chunks start at 0, end at the end, overlap exactly as configured, never exceed the
        /// size, always advance, and their spans slice back to their text.
        #[test]
        fn chunks_cover_overlap_and_round_trip(text in text_strategy(), size in 16u32..200, overlap_pct in 0u32..50) {
            let overlap = (size * overlap_pct / 100).min(size / 2 - 1);
            let spec = ChunkSpec { size, overlap }.validate().expect("valid");
            let chars: Vec<char> = text.chars().collect();
            let chunks = split(&text, spec);
            if chars.is_empty() {
                prop_assert!(chunks.is_empty());
                return Ok(());
            }
            prop_assert_eq!(chunks[0].start, 0);
            prop_assert_eq!(chunks.last().map(|c| c.end), Some(chars.len()));
            for w in chunks.windows(2) {
                prop_assert_eq!(w[1].start, w[0].end - overlap as usize);
                prop_assert!(w[1].end > w[0].end);
            }
            for c in &chunks {
                prop_assert!(c.end - c.start <= size as usize);
                let span: String = chars[c.start..c.end].iter().collect();
                prop_assert_eq!(&span, &c.text);
            }
        }

        /// With regions (pages), no chunk crosses a region boundary and each region is covered.
        #[test]
        fn regions_are_respected(a in text_strategy(), b in text_strategy(), size in 16u32..120) {
            let spec = ChunkSpec { size, overlap: size / 8 }.validate().expect("valid");
            let text = format!("{a}\n\n{b}");
            let na = a.chars().count();
            let regions = [(0, na), (na + 2, na + 2 + b.chars().count())];
            let chunks = split_regions(&text, &regions, &[], spec);
            for c in &chunks {
                prop_assert!(regions.iter().any(|&(s, e)| c.start >= s && c.end <= e));
            }
            for &(s, e) in &regions {
                if e > s {
                    prop_assert!(chunks.iter().any(|c| c.start == s));
                    prop_assert!(chunks.iter().any(|c| c.end == e));
                }
            }
        }
    }
}
