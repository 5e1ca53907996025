//! Keyword search vocabulary: jieba segmentation shared by indexing and querying, and the
//! FTS5 query built from it. The index itself is the `chunk_fts` table in the catalogue.

use std::borrow::Cow;
use std::sync::OnceLock;

use jieba_rs::Jieba;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Segments Chinese (and mixed) text into search tokens. The dictionary loads on first use
/// (~0.05 s), off the start-up path.
///
/// Tokens reach the keyword index in their index form (see [`index_form`]): the index's own
/// tokenizer (`ascii`) then only splits at the spaces between them, which keeps that work off
/// the catalogue's single writer.
#[derive(Default)]
pub struct Segmenter {
    jieba: OnceLock<Jieba>,
}

/// A word as the keyword index stores it, and as a query looks it up: lowercase, without
/// diacritics, and cut into space-separated pieces at anything that is not a letter or digit
/// (what SQLite's `unicode61` tokenizer does). Empty when the word has no letter or digit.
pub fn index_form(word: &str) -> Cow<'_, str> {
    if word.chars().all(is_plain) {
        return Cow::Borrowed(word);
    }
    let mut out = String::with_capacity(word.len());
    if word.is_ascii() {
        // No diacritics to remove: lowercase, and cut at the ASCII separators.
        for piece in word
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| !p.is_empty())
        {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(piece.chars().map(|c| c.to_ascii_lowercase()));
        }
        return Cow::Owned(out);
    }
    let mut gap = false;
    for c in word.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    // Letters without case or marks (CJK, kana, Hangul) come back composed.
    Cow::Owned(out.nfc().collect())
}

/// Whether `c` lies in the Unicode blocks of the alphabetic scripts written with spaces between
/// words that jieba does not segment (Latin-1 letters to Arabic, and Latin Extended Additional,
/// which Vietnamese uses); a cheap first test.
fn in_spaced_script_blocks(c: char) -> bool {
    matches!(c, '\u{00c0}'..='\u{06ff}' | '\u{1e00}'..='\u{1eff}')
}

/// A letter of one of those scripts (not a sign such as × or ÷, nor punctuation).
fn is_spaced_script_letter(c: char) -> bool {
    in_spaced_script_blocks(c) && c.is_alphabetic()
}

/// A character that is already in index form: a lowercase ASCII letter or digit, or a
/// character of a caseless script without diacritics (CJK ideographs, kana, Hangul syllables).
fn is_plain(c: char) -> bool {
    c.is_ascii_lowercase()
        || c.is_ascii_digit()
        || matches!(c,
            '\u{3040}'..='\u{30ff}'     // Hiragana, Katakana
            | '\u{3400}'..='\u{4dbf}'   // CJK Extension A
            | '\u{4e00}'..='\u{9fff}'   // CJK Unified Ideographs
            | '\u{ac00}'..='\u{d7a3}'   // Hangul syllables
            | '\u{20000}'..='\u{2ebef}' // CJK Extensions B to F
        )
}

impl Segmenter {
    fn jieba(&self) -> &Jieba {
        self.jieba.get_or_init(Jieba::new)
    }

    /// Loads the dictionary now, so the first import or search does not pay for it.
    pub fn warm_up(&self) {
        self.jieba();
    }

    /// Search-mode words (words plus their sub-words) of `text` with their character spans.
    /// They are jieba's, except for words of the alphabetic scripts written with spaces that
    /// jieba does not know (Latin with diacritics, Greek, Cyrillic, Armenian, Hebrew, Arabic,
    /// Vietnamese): jieba cuts "Zürich" into "Z", "ü", "rich", so "Zurich" would not find it;
    /// such a word is kept whole here.
    fn cut<'a>(&self, text: &'a str) -> Vec<(usize, usize, &'a str)> {
        let jieba = self.jieba();
        let mut out = Vec::new();
        let cut_plain = |piece: &'a str, offset: usize, out: &mut Vec<_>| {
            out.extend(
                jieba
                    .cut_for_search(piece, true)
                    .into_iter()
                    .map(|t| (offset + t.start, offset + t.end, t.word)),
            );
        };
        if !text.chars().any(in_spaced_script_blocks) {
            cut_plain(text, 0, &mut out);
            return out;
        }
        // Where the text left to jieba starts (byte, character).
        let mut plain = (0, 0);
        // The word being read: its start (byte, character), and whether jieba would cut it.
        let mut word: Option<(usize, usize, bool)> = None;
        // A space after the end closes the last word.
        let ended = text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')));
        for (n, (b, c)) in ended.enumerate() {
            let foreign = is_spaced_script_letter(c) || is_combining_mark(c);
            if foreign || c.is_ascii_alphanumeric() {
                match &mut word {
                    Some((_, _, f)) => *f |= foreign,
                    None => word = Some((b, n, foreign)),
                }
            } else if let Some((wb, wn, true)) = word.take() {
                cut_plain(&text[plain.0..wb], plain.1, &mut out);
                out.push((wn, n, &text[wb..b]));
                plain = (b, n);
            }
        }
        cut_plain(&text[plain.0..], plain.1, &mut out);
        out
    }

    /// Search-mode tokens (words plus their sub-words) in index form; words without a letter
    /// or digit (punctuation, spaces) are dropped.
    pub fn tokens<'a>(&self, text: &'a str) -> impl Iterator<Item = Cow<'a, str>> + use<'a, '_> {
        self.cut(text)
            .into_iter()
            .map(|(_, _, word)| index_form(word))
            .filter(|w| !w.is_empty())
    }

    /// Search-mode tokens of a whole text, in index form, with their character spans, in
    /// order of start, so the tokens of any chunk of it can be picked without segmenting the
    /// chunk again.
    pub fn token_spans<'a>(&self, text: &'a str) -> Vec<(usize, usize, Cow<'a, str>)> {
        let mut spans: Vec<(usize, usize, Cow<'a, str>)> = self
            .cut(text)
            .into_iter()
            .map(|(start, end, word)| (start, end, index_form(word)))
            .filter(|(_, _, w)| !w.is_empty())
            .collect();
        // Equal spans hold equal words, so an unstable sort gives the same text.
        spans.sort_unstable_by_key(|&(start, end, _)| (start, end));
        spans
    }

    /// The space-joined tokens of `spans` (from [`Self::token_spans`]) that lie within the
    /// character range `start..end`: the FTS text of the chunk at that range.
    pub fn index_text_within(
        spans: &[(usize, usize, Cow<'_, str>)],
        start: usize,
        end: usize,
    ) -> String {
        let first = spans.partition_point(|&(s, _, _)| s < start);
        let mut out = String::new();
        for (_, e, word) in spans[first..].iter().take_while(|&&(s, _, _)| s < end) {
            if *e <= end {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out
    }

    /// The space-joined token string stored in the FTS index for one chunk.
    pub fn index_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + text.len() / 2);
        for t in self.tokens(text) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
        out
    }

    /// An FTS5 MATCH expression for a user's query: any of its tokens, ranked by BM25.
    /// Question words and particles (的, 是, 什么, what, the ...) are left out unless nothing
    /// else is left: they match nearly every chunk and only add noise to the ranking.
    /// `None` when the query has nothing searchable (only punctuation or spaces).
    pub fn match_expression(&self, query: &str) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        // A word cut into pieces (e.g. "wi-fi") is looked up as one term a piece.
        let tokens: Vec<String> = self
            .tokens(query)
            .flat_map(|t| t.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter(|t| seen.insert(t.clone()))
            .collect();
        let content: Vec<&String> = tokens.iter().filter(|t| !is_stop_word(t)).collect();
        let terms: Vec<&String> = if content.is_empty() {
            tokens.iter().collect()
        } else {
            content
        };
        let quoted: Vec<String> = terms
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect();
        (!quoted.is_empty()).then(|| quoted.join(" OR "))
    }
}

/// Words too common to help a keyword query: Chinese particles, pronouns and question words,
/// and English function words.
fn is_stop_word(token: &str) -> bool {
    const STOP: &[&str] = &[
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "有",
        "没有",
        "也",
        "都",
        "就",
        "而",
        "之",
        "其",
        "这",
        "那",
        "这个",
        "那个",
        "这些",
        "那些",
        "一个",
        "被",
        "把",
        "对",
        "从",
        "到",
        "向",
        "为",
        "以",
        "于",
        "由",
        "吗",
        "呢",
        "吧",
        "啊",
        "么",
        "什么",
        "多少",
        "哪",
        "哪些",
        "哪里",
        "哪个",
        "谁",
        "几",
        "如何",
        "怎么",
        "怎样",
        "为什么",
        "是否",
        "请问",
        "请",
        "我",
        "你",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "他们",
        "可以",
        "能",
        "会",
        "要",
        "得",
        "地",
        "着",
        "过",
        "等",
        "中",
        "上",
        "下",
        "个",
        "即",
        "算",
        "称为",
        "叫",
        "叫做",
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "from",
        "there",
        "can",
        "could",
        "i",
        "you",
        "we",
        "they",
        "he",
        "she",
    ];
    STOP.contains(&token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_chinese_and_drops_punctuation() {
        let s = Segmenter::default();
        let tokens: Vec<String> = s
            .tokens("中华人民共和国成立了。Hello, World!")
            .map(Cow::into_owned)
            .collect();
        assert!(tokens.iter().any(|t| t == "中华"));
        assert!(tokens.iter().any(|t| t == "中华人民共和国"));
        assert!(tokens.iter().any(|t| t == "hello"));
        assert!(!tokens.iter().any(|t| t == "。" || t == ","));
    }

    #[test]
    fn words_of_spaced_scripts_stay_whole_and_match_without_their_accents() {
        let s = Segmenter::default();
        let tokens = |text: &str| -> Vec<String> { s.tokens(text).map(Cow::into_owned).collect() };
        let doc = tokens("在Zürich的Café见面，Москва和Αθήνα也有分店。naïve Phở, Cafe\u{301} ok");
        for word in [
            "zurich",
            "cafe",
            "москва",
            "αθηνα",
            "naive",
            "pho",
            "ok",
            "见面",
            "分店",
        ] {
            assert!(doc.iter().any(|t| t == word), "{word} in {doc:?}");
        }
        // Not cut into letters (what jieba alone does with them).
        for piece in ["z", "u", "rich", "caf", "e", "м"] {
            assert!(!doc.iter().any(|t| t == piece), "{piece} in {doc:?}");
        }
        // The query side cuts the same way, with or without the accents.
        assert_eq!(tokens("Zurich"), ["zurich"]);
        assert_eq!(tokens("ZÜRICH"), ["zurich"]);
        assert_eq!(tokens("cafe"), tokens("Café"));
    }

    #[test]
    fn spans_of_words_kept_whole_are_their_characters() {
        let s = Segmenter::default();
        let text = "营业额Zürich增长，Café开业";
        let spans = s.token_spans(text);
        let chars: Vec<char> = text.chars().collect();
        for (start, end, word) in &spans {
            let original: String = chars[*start..*end].iter().collect();
            assert_eq!(index_form(&original), *word, "{start}..{end}");
        }
        assert!(spans
            .iter()
            .any(|(a, b, w)| (*a, *b, w.as_ref()) == (3, 9, "zurich")));
        assert!(spans
            .iter()
            .any(|(a, b, w)| (*a, *b, w.as_ref()) == (12, 16, "cafe")));
        // Jieba's words around them keep their places.
        assert!(spans
            .iter()
            .any(|(a, b, w)| (*a, *b, w.as_ref()) == (9, 11, "增长")));
    }

    #[test]
    fn chunk_tokens_from_document_spans_match_the_chunk() {
        let s = Segmenter::default();
        let text = "中华人民共和国成立了。营业收入同比增长百分之十二。Revenue grew 12%.";
        let spans = s.token_spans(text);
        let sorted = |t: String| {
            let mut v: Vec<String> = t.split(' ').map(str::to_owned).collect();
            v.sort();
            v
        };
        let all = Segmenter::index_text_within(&spans, 0, text.chars().count());
        // Same tokens as segmenting the text directly (order is irrelevant to BM25).
        assert_eq!(sorted(all), sorted(s.index_text(text)));
        // The second sentence alone: only tokens inside it.
        let within = Segmenter::index_text_within(&spans, 11, 24);
        assert!(
            within.contains("营业") && within.contains("同比"),
            "{within}"
        );
        assert!(
            !within.contains("中华") && !within.contains("Revenue"),
            "{within}"
        );
    }

    #[test]
    fn index_form_is_lowercase_unaccented_alphanumeric() {
        assert_eq!(index_form("营业收入"), "营业收入");
        assert!(matches!(index_form("营业收入"), Cow::Borrowed(_)));
        assert_eq!(index_form("Café"), "cafe");
        assert_eq!(index_form("ÉCOLE"), "ecole");
        assert_eq!(index_form("Wi-Fi"), "wi fi");
        assert_eq!(index_form("snake_case"), "snake case");
        assert_eq!(index_form("３Ｄ"), "３ｄ");
        assert_eq!(index_form("한국어"), "한국어");
        assert_eq!(index_form("ｶﾀｶﾅ"), "ｶﾀｶﾅ");
        assert_eq!(index_form("。"), "");
        assert_eq!(index_form("--"), "");
        // What the FTS `ascii` tokenizer sees splits only at the spaces: no ASCII separator
        // and no uppercase ASCII is left in a token.
        for w in ["Ünïcödé", "A.B.C", "x\"y", "C++", "数据_v2"] {
            let f = index_form(w);
            assert!(
                !f.chars()
                    .any(|c| c.is_ascii() && c != ' ' && !c.is_ascii_alphanumeric()),
                "{w} -> {f}"
            );
            assert!(!f.chars().any(|c| c.is_ascii_uppercase()), "{w} -> {f}");
        }
    }

    #[test]
    fn match_expression_quotes_and_dedupes() {
        let s = Segmenter::default();
        assert_eq!(s.match_expression("苹果 苹果"), Some("\"苹果\"".to_owned()));
        assert_eq!(
            s.match_expression("x\"b"),
            Some("\"x\" OR \"b\"".to_owned())
        );
        assert_eq!(s.match_expression("，。！ "), None);
        // Question words go; a query of nothing else keeps them.
        let e = s.match_expression("大熊猫吃什么？").unwrap_or_default();
        assert!(e.contains("\"吃\"") && !e.contains("什么"), "{e}");
        assert_eq!(s.match_expression("什么"), Some("\"什么\"".to_owned()));
    }
}
