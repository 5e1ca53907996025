//! Keyword search vocabulary: jieba segmentation shared by indexing and querying, and the
//! FTS5 query built from it. The index itself is the `chunk_fts` table in the catalogue.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// Segments Chinese (and mixed) text into search tokens. The dictionary loads on first use
/// (~0.1 s), off the start-up path.
#[derive(Default)]
pub struct Segmenter {
    jieba: OnceLock<Jieba>,
}

impl Segmenter {
    fn jieba(&self) -> &Jieba {
        self.jieba.get_or_init(Jieba::new)
    }

    /// Loads the dictionary now, so the first import or search does not pay for it.
    pub fn warm_up(&self) {
        self.jieba();
    }

    /// Search-mode tokens (words plus their sub-words), lowercased, punctuation dropped.
    pub fn tokens<'a>(&self, text: &'a str) -> impl Iterator<Item = &'a str> + use<'a, '_> {
        self.jieba()
            .cut_for_search(text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| w.chars().any(char::is_alphanumeric))
    }

    /// Search-mode tokens of a whole text with their character spans, in order of start, so
    /// the tokens of any chunk of it can be picked without segmenting the chunk again.
    pub fn token_spans<'a>(&self, text: &'a str) -> Vec<(usize, usize, &'a str)> {
        let mut spans: Vec<(usize, usize, &str)> = self
            .jieba()
            .cut_for_search(text, true)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .map(|t| (t.start, t.end, t.word))
            .collect();
        spans.sort_by_key(|&(start, end, _)| (start, end));
        spans
    }

    /// The space-joined tokens of `spans` (from [`Self::token_spans`]) that lie within the
    /// character range `start..end`: the FTS text of the chunk at that range.
    pub fn index_text_within(spans: &[(usize, usize, &str)], start: usize, end: usize) -> String {
        let first = spans.partition_point(|&(s, _, _)| s < start);
        let mut out = String::new();
        for &(_, e, word) in spans[first..].iter().take_while(|&&(s, _, _)| s < end) {
            if e <= end {
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
            out.push_str(t);
        }
        out
    }

    /// An FTS5 MATCH expression for a user's query: any of its tokens, ranked by BM25.
    /// Question words and particles (的, 是, 什么, what, the ...) are left out unless nothing
    /// else is left: they match nearly every chunk and only add noise to the ranking.
    /// `None` when the query has nothing searchable (only punctuation or spaces).
    pub fn match_expression(&self, query: &str) -> Option<String> {
        let mut seen = std::collections::HashSet::new();
        let tokens: Vec<String> = self
            .tokens(query)
            .map(str::to_lowercase)
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
        let tokens: Vec<&str> = s.tokens("中华人民共和国成立了。Hello, World!").collect();
        assert!(tokens.contains(&"中华"));
        assert!(tokens.contains(&"中华人民共和国"));
        assert!(tokens.contains(&"Hello"));
        assert!(!tokens.iter().any(|t| *t == "。" || *t == ","));
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
