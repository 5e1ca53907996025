//! Chinese-aware chunking: cut near the size limit at a sentence end (。！？；\n …),
//! else at a clause mark, else at whitespace, else hard; consecutive chunks overlap. Sizes count
//! characters, or estimated tokens of the knowledge base's embedding model.

use serde::{Deserialize, Serialize};

use crate::chat::prompt::TokenRatio;

/// Chunk size and overlap, in characters (Unicode scalar values) or estimated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ChunkSpec {
    /// Maximum size of a chunk.
    pub size: u32,
    /// Size shared by consecutive chunks.
    pub overlap: u32,
    /// What `size` and `overlap` count.
    #[serde(default)]
    pub unit: ChunkUnit,
}

/// What chunk sizes count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ChunkUnit {
    /// Characters (Unicode scalar values), as the old system did.
    #[default]
    Chars,
    /// Tokens, estimated for the knowledge base's embedding model (erring high), so a chunk
    /// fits the model's input window.
    Tokens,
}

impl ChunkUnit {
    /// Its name in the catalogue, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chars => "chars",
            Self::Tokens => "tokens",
        }
    }
}

impl TryFrom<String> for ChunkUnit {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for ChunkUnit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "chars" | "characters" => Ok(Self::Chars),
            "tokens" => Ok(Self::Tokens),
            other => Err(format!("unknown chunk unit {other:?} (chars or tokens)")),
        }
    }
}

impl Default for ChunkSpec {
    fn default() -> Self {
        Self {
            size: 512,
            overlap: 64,
            unit: ChunkUnit::Chars,
        }
    }
}

impl ChunkSpec {
    /// A spec counting characters.
    pub fn chars(size: u32, overlap: u32) -> Self {
        Self {
            size,
            overlap,
            unit: ChunkUnit::Chars,
        }
    }

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

/// How much each character counts towards a chunk's size, in thousandths of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    cjk: u64,
    other: u64,
}

impl Measure {
    /// Every character counts one.
    pub const CHARS: Self = Self {
        cjk: 1000,
        other: 1000,
    };

    /// Estimated tokens of a model family's tokenizer.
    pub fn tokens(ratio: TokenRatio) -> Self {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let milli = |x: f64| (x * 1000.0).ceil().max(1.0) as u64;
        Self {
            cjk: milli(ratio.per_cjk_char),
            other: milli(1.0 / ratio.chars_per_token),
        }
    }

    /// The measure of `spec`'s unit; token estimates follow `model` (the embedding model, when
    /// the knowledge base has one; a cautious middle otherwise).
    pub fn of(spec: ChunkSpec, model: Option<&str>) -> Self {
        match spec.unit {
            ChunkUnit::Chars => Self::CHARS,
            ChunkUnit::Tokens => Self::tokens(TokenRatio::for_model(model.unwrap_or(""))),
        }
    }

    fn cost(self, c: char) -> u64 {
        if crate::chat::prompt::is_cjk(c) {
            self.cjk
        } else {
            self.other
        }
    }

    /// The size of `text` in whole units, rounded up.
    pub fn size_of(self, text: &str) -> u64 {
        text.chars()
            .map(|c| self.cost(c))
            .sum::<u64>()
            .div_ceil(1000)
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

/// Splits `text` into chunks per `spec` (which must have passed [`ChunkSpec::validate`]), token
/// sizes estimated with no particular model in mind. Chunks cover the text without gaps; each
/// starts `overlap` before the previous end.
pub fn split(text: &str, spec: ChunkSpec) -> Vec<Chunk> {
    split_keeping(text, &[], spec, Measure::of(spec, None))
}

/// [`split`] measuring with `measure`, avoiding cuts inside the `keep` spans (sorted,
/// non-overlapping character ranges, e.g. table rows): a cut that would fall inside one moves to
/// its start, unless the span is too long for that (then it is cut like any text).
pub fn split_keeping(
    text: &str,
    keep: &[(usize, usize)],
    spec: ChunkSpec,
    measure: Measure,
) -> Vec<Chunk> {
    let size = u64::from(spec.size) * 1000;
    let overlap = u64::from(spec.overlap) * 1000;
    // Never cut so early that the next chunk would not move forward, nor in the first half.
    let half = u64::from((spec.size / 2).max(spec.overlap + 1)) * 1000;
    // Byte offset of every character boundary, so char spans slice the &str directly.
    let bounds = char_bounds(text);
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    // cost[i]: the size of the first i characters.
    let mut cost = Vec::with_capacity(n + 1);
    cost.push(0u64);
    for &c in &chars {
        cost.push(cost[cost.len() - 1] + measure.cost(c));
    }
    // The first index at or after `from` whose prefix exceeds `limit`... as a count from `from`.
    let first_over = |from: usize, limit: u64| -> usize {
        from + cost[from..].partition_point(|&p| p - cost[from] <= limit)
    };
    let mut out = Vec::with_capacity(cost[n] as usize / (size - overlap).max(1) as usize + 1);
    let mut start = 0;
    while start < n {
        let end = if cost[n] - cost[start] <= size {
            n
        } else {
            // The furthest end within the size (at least one character).
            let hard = (first_over(start, size) - 1).max(start + 1);
            let earliest = (start + cost[start..].partition_point(|&p| p - cost[start] < half))
                .clamp(start + 1, hard);
            // A kept span may pull the cut back, but not to where the next chunk would not
            // move forward (its start must leave more than the overlap behind).
            let floor = first_over(start, overlap) - 1;
            keep_whole(keep, cut_point(&chars, earliest, hard), floor)
        };
        out.push(Chunk {
            start,
            end,
            text: text[bounds[start]..bounds[end]].to_owned(),
        });
        if end == n {
            break;
        }
        // The next chunk starts where `overlap` of this one's end remains.
        let back = cost[..=end].partition_point(|&p| cost[end] - p > overlap);
        start = back.clamp(start + 1, end);
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
    measure: Measure,
) -> Vec<Chunk> {
    if regions.is_empty() {
        return split_keeping(text, keep, spec, measure);
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
            split_keeping(region, &local, spec, measure)
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

/// Where to end a chunk that may end anywhere from `earliest` to `hard`: the best boundary.
fn cut_point(chars: &[char], earliest: usize, hard: usize) -> usize {
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
        ChunkSpec::chars(size, overlap)
            .validate()
            .expect("valid spec")
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
        let c = split_regions(
            &text,
            &[(0, 50), (52, 102)],
            &[],
            spec(32, 8),
            Measure::CHARS,
        );
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
        let chunks = split_keeping(&text, &keep, spec(64, 8), Measure::CHARS);
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
    fn a_token_size_holds_fewer_chinese_characters_than_the_same_character_size() {
        let text = "营业收入同比增长，研发投入继续增加。".repeat(40);
        let tokens = ChunkSpec {
            size: 96,
            overlap: 12,
            unit: ChunkUnit::Tokens,
        };
        // An unknown model's tokenizer counts 1.5 tokens a Chinese character: 96 tokens hold
        // at most 64 characters.
        let measure = Measure::of(tokens, Some("bge-large-zh-v1.5"));
        let chunks = split_keeping(&text, &[], tokens, measure);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.end - c.start <= 64, "{} characters", c.end - c.start);
            assert!(measure.size_of(&c.text) <= 96);
        }
        // A Chinese-trained tokenizer (0.8 a character) fits more characters than 96.
        let qwen = Measure::of(tokens, Some("qwen2.5-7b-instruct"));
        let wide = split_keeping(&text, &[], tokens, qwen);
        assert!(wide.iter().any(|c| c.end - c.start > 96));
        // Counting characters, nothing changes from before.
        assert_eq!(
            split(&text, spec(96, 12)),
            split_keeping(&text, &[], spec(96, 12), Measure::CHARS)
        );
        assert!(split(&text, spec(96, 12))
            .iter()
            .all(|c| c.end - c.start <= 96));
    }

    #[test]
    fn invalid_specs_are_refused() {
        assert!(ChunkSpec::chars(8, 0).validate().is_err());
        assert!(ChunkSpec::chars(100, 50).validate().is_err());
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
            let spec = ChunkSpec::chars(size, overlap).validate().expect("valid");
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

        /// Counting estimated tokens: chunks still cover the text and advance; each fits the
        /// token size (unless one character alone exceeds it) and the part shared with the next
        /// chunk fits the token overlap.
        #[test]
        fn token_chunks_fit_their_budget(text in text_strategy(), size in 16u32..200, overlap_pct in 0u32..50, zh_model in any::<bool>()) {
            let overlap = (size * overlap_pct / 100).min(size / 2 - 1);
            let spec = ChunkSpec { size, overlap, unit: ChunkUnit::Tokens }.validate().expect("valid");
            let measure = Measure::of(spec, Some(if zh_model { "qwen2.5-instruct" } else { "bge-small-en" }));
            let chars: Vec<char> = text.chars().collect();
            let chunks = split_keeping(&text, &[], spec, measure);
            if chars.is_empty() {
                prop_assert!(chunks.is_empty());
                return Ok(());
            }
            prop_assert_eq!(chunks[0].start, 0);
            prop_assert_eq!(chunks.last().map(|c| c.end), Some(chars.len()));
            for w in chunks.windows(2) {
                prop_assert!(w[1].start > w[0].start && w[1].end > w[0].end && w[1].start <= w[0].end);
                let shared: String = chars[w[1].start..w[0].end].iter().collect();
                prop_assert!(measure.size_of(&shared) <= u64::from(overlap) + 1, "shared {:?}", shared);
            }
            for c in &chunks {
                prop_assert!(measure.size_of(&c.text) <= u64::from(size) || c.end - c.start == 1);
                let span: String = chars[c.start..c.end].iter().collect();
                prop_assert_eq!(&span, &c.text);
            }
        }

        /// With regions (pages), no chunk crosses a region boundary and each region is covered.
        #[test]
        fn regions_are_respected(a in text_strategy(), b in text_strategy(), size in 16u32..120) {
            let spec = ChunkSpec::chars(size, size / 8).validate().expect("valid");
            let text = format!("{a}\n\n{b}");
            let na = a.chars().count();
            let regions = [(0, na), (na + 2, na + 2 + b.chars().count())];
            let chunks = split_regions(&text, &regions, &[], spec, Measure::CHARS);
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
