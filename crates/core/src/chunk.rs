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

/// Splits `text` into chunks per `spec` (which must have passed [`ChunkSpec::validate`]).
/// Chunks cover the text without gaps; each starts `overlap` characters before the previous end.
pub fn split(text: &str, spec: ChunkSpec) -> Vec<Chunk> {
    let size = spec.size as usize;
    let overlap = spec.overlap as usize;
    // Byte offset of every character boundary, so char spans slice the &str directly.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = Vec::with_capacity(n / size.saturating_sub(overlap).max(1) + 1);
    let mut start = 0;
    while start < n {
        let end = if n - start <= size {
            n
        } else {
            cut_point(&chars, start, size, overlap)
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

/// Splits each of `regions` (half-open character ranges of `text`, e.g. its pages) on its own,
/// so no chunk crosses a region boundary; spans are offsets into the whole `text`.
/// Without regions the whole text is one region.
pub fn split_regions(text: &str, regions: &[(usize, usize)], spec: ChunkSpec) -> Vec<Chunk> {
    if regions.is_empty() {
        return split(text, spec);
    }
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let n = bounds.len() - 1;
    let mut out = Vec::new();
    for &(start, end) in regions {
        let (start, end) = (start.min(n), end.min(n));
        if start >= end {
            continue;
        }
        let region = &text[bounds[start]..bounds[end]];
        out.extend(split(region, spec).into_iter().map(|c| Chunk {
            start: c.start + start,
            end: c.end + start,
            text: c.text,
        }));
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
            for chunk in &c {
                let expect: String = text
                    .chars()
                    .skip(chunk.start)
                    .take(chunk.end - chunk.start)
                    .collect();
                assert_eq!(chunk.text, expect);
                assert!(chunk.end - chunk.start <= size as usize);
            }
        }
    }

    #[test]
    fn regions_are_split_separately() {
        let text = format!("{}\n\n{}", "甲".repeat(50), "乙".repeat(50));
        let c = split_regions(&text, &[(0, 50), (52, 102)], spec(32, 8));
        assert!(c.iter().all(|c| c.end <= 50 || c.start >= 52));
        assert!(c
            .iter()
            .all(|c| c.text.chars().all(|ch| ch == '甲') || c.text.chars().all(|ch| ch == '乙')));
        assert_eq!(c.last().map(|c| c.end), Some(102));
        for chunk in &c {
            let expect: String = text
                .chars()
                .skip(chunk.start)
                .take(chunk.end - chunk.start)
                .collect();
            assert_eq!(chunk.text, expect);
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
