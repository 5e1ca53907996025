//! What the model reads: the question's language, a token estimate per model family, the
//! passages packed whole into a token budget, and the prompts in Simplified Chinese and English.

use serde::{Deserialize, Serialize};

use super::Citation;

/// The language an answer is written in: the question's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Simplified Chinese.
    Zh,
    /// English.
    En,
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}' | '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FFEF}')
}

/// Chinese when a fifth or more of the question's letters are CJK ideographs: a Chinese
/// question naming an English product is still Chinese.
pub fn detect_language(text: &str) -> Language {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in text.chars() {
        if is_cjk(c) && c.is_alphabetic() {
            cjk += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if cjk > 0 && cjk * 5 >= letters {
        Language::Zh
    } else {
        Language::En
    }
}

/// How a model family's tokenizer splits text: tokens per CJK character and characters per
/// token elsewhere. Estimates, erring high, so a prompt never overflows the context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenRatio {
    /// Tokens per CJK character.
    pub per_cjk_char: f64,
    /// Characters per token for other text.
    pub chars_per_token: f64,
}

impl TokenRatio {
    /// The ratio for a model, from its name: Chinese-trained vocabularies (Qwen, GLM, Yi,
    /// DeepSeek, InternLM, Baichuan) spend under one token per character; byte-level English
    /// vocabularies (SmolLM, GPT-2 style) up to three; unknown models get a safe middle.
    pub fn for_model(name: &str) -> Self {
        let n = name.to_lowercase();
        let zh_native = [
            "qwen", "glm", "yi-", "deepseek", "internlm", "baichuan", "minicpm",
        ];
        let english = ["smollm", "gpt2", "phi", "tinyllama", "opt-"];
        if zh_native.iter().any(|f| n.contains(f)) {
            Self {
                per_cjk_char: 0.8,
                chars_per_token: 3.5,
            }
        } else if english.iter().any(|f| n.contains(f)) {
            Self {
                per_cjk_char: 3.0,
                chars_per_token: 3.5,
            }
        } else {
            Self {
                per_cjk_char: 1.5,
                chars_per_token: 3.0,
            }
        }
    }

    /// Estimated tokens of `text`.
    pub fn estimate(&self, text: &str) -> usize {
        let (mut cjk, mut other) = (0usize, 0usize);
        for c in text.chars() {
            if is_cjk(c) {
                cjk += 1;
            } else {
                other += 1;
            }
        }
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let tokens =
            (cjk as f64 * self.per_cjk_char + other as f64 / self.chars_per_token).ceil() as usize;
        tokens
    }
}

/// The token budget of one answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// The model's context window.
    pub context: usize,
    /// Tokens kept free for the answer.
    pub answer: usize,
}

impl Budget {
    pub fn for_context(context: usize) -> Self {
        Self {
            context,
            answer: (context / 4).clamp(128, 1024),
        }
    }
}

/// Picks passages in rank order while they fit whole in what the budget leaves after the
/// fixed parts of the prompt; a passage that does not fit is skipped (never cut), and a later,
/// shorter one may still fit.
pub(crate) fn pack(
    citations: &[Citation],
    fixed_tokens: usize,
    budget: Budget,
    ratio: TokenRatio,
) -> Vec<&Citation> {
    let mut left = budget
        .context
        .saturating_sub(budget.answer)
        .saturating_sub(fixed_tokens);
    let mut chosen = Vec::new();
    for c in citations {
        let cost = ratio.estimate(&source_block(c, Language::Zh)) + 4;
        if cost <= left {
            left -= cost;
            chosen.push(c);
        }
    }
    chosen
}

/// A message of a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl PromptMessage {
    pub(crate) fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// The label of a source: file name (or title), page and headings.
pub(crate) fn source_label(c: &Citation, lang: Language) -> String {
    let mut label = c.name.clone();
    if let Some(page) = c.page {
        label.push_str(&match lang {
            Language::Zh => format!(" · 第 {page} 页"),
            Language::En => format!(" · page {page}"),
        });
    }
    if !c.heading_path.is_empty() {
        label.push_str(" · ");
        label.push_str(&c.heading_path.join(" › "));
    }
    label
}

fn source_block(c: &Citation, lang: Language) -> String {
    format!("[{}] {}\n{}\n", c.n, source_label(c, lang), c.text.trim())
}

pub(crate) fn system_prompt(lang: Language) -> &'static str {
    match lang {
        Language::Zh => {
            "你是一个严谨的知识库助手。只根据用户提供的编号资料回答问题，不要使用资料以外的知识。\
             在用到资料的句子后用 [1]、[2] 这样的编号注明出处。\
             如果资料中没有问题的答案，就直接说明资料中没有找到答案，不要编造。\
             用简体中文回答，简洁清楚，可以使用 Markdown。"
        }
        Language::En => {
            "You are a careful knowledge-base assistant. Answer only from the numbered sources the \
             user gives you, never from outside knowledge. Cite the sources you use as [1], [2] \
             right after the sentences that use them. If the sources do not contain the answer, \
             say so plainly instead of guessing. Answer in English, concisely; Markdown is fine."
        }
    }
}

/// The user turn: the numbered sources, then the question.
pub(crate) fn grounded_question(question: &str, sources: &[&Citation], lang: Language) -> String {
    let mut out = String::new();
    out.push_str(match lang {
        Language::Zh => "资料：\n\n",
        Language::En => "Sources:\n\n",
    });
    for c in sources {
        out.push_str(&source_block(c, lang));
        out.push('\n');
    }
    out.push_str(match lang {
        Language::Zh => "问题：",
        Language::En => "Question: ",
    });
    out.push_str(question.trim());
    out
}

/// Asks the model to turn a follow-up into a question that stands alone, for retrieval.
pub(crate) fn condense_prompt(
    history: &[PromptMessage],
    follow_up: &str,
    lang: Language,
) -> String {
    let mut out = String::from(match lang {
        Language::Zh => {
            "根据下面的对话，把最后的追问改写成一个不依赖上下文、可以单独理解的完整问题。只输出改写后的问题。\n\n对话：\n"
        }
        Language::En => {
            "Given the conversation below, rewrite the follow-up as a complete question that can be \
             understood on its own. Output only the rewritten question.\n\nConversation:\n"
        }
    });
    for m in history {
        out.push_str(&m.role);
        out.push_str(": ");
        out.push_str(m.content.trim());
        out.push('\n');
    }
    out.push_str(match lang {
        Language::Zh => "\n追问：",
        Language::En => "\nFollow-up: ",
    });
    out.push_str(follow_up.trim());
    out
}

/// The answer when no generation model is configured: the best passages, clearly labelled.
pub(crate) fn retrieval_only_answer(citations: &[Citation], lang: Language) -> String {
    let mut out = String::from(match lang {
        Language::Zh => "**未配置生成模型，以下是知识库中与问题最相关的段落：**\n\n",
        Language::En => {
            "**No answer model is configured; these are the passages that best match the question:**\n\n"
        }
    });
    for c in citations {
        out.push_str(&format!(
            "[{}] **{}**\n\n",
            c.n,
            escape_md(&source_label(c, lang))
        ));
        // Hard line breaks keep the passage's lines as they are in the document.
        let lines: Vec<String> = c
            .text
            .trim()
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .map(escape_md)
            .collect();
        out.push_str("> ");
        out.push_str(&lines.join("  \n> "));
        out.push('\n');
        out.push('\n');
    }
    out
}

/// The honest answer when retrieval found nothing.
pub(crate) fn no_passages_answer(lang: Language) -> String {
    match lang {
        Language::Zh => "知识库中没有找到与这个问题相关的内容。可以换个说法再问，或者先导入相关的文档。".into(),
        Language::En => {
            "Nothing in this knowledge base matches the question. Try other words, or import the documents that cover it.".into()
        }
    }
}

/// Quoted document text must not turn into Markdown structure (emphasis, links, HTML, a
/// heading or list at the start of a line, a table when the line has a delimiter row's dashes).
fn escape_md(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let table_like = text.contains("-|") || text.contains("|-");
    for (i, c) in text.chars().enumerate() {
        let structural = matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<')
            || (i == 0 && matches!(c, '#' | '>' | '-' | '+' | '='))
            || (c == '|' && table_like);
        if structural {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citation(n: u32, text: &str) -> Citation {
        Citation {
            n,
            document_id: 1,
            chunk_ids: vec![i64::from(n)],
            path: "/docs/合同.pdf".into(),
            name: "合同.pdf".into(),
            page: Some(3),
            heading_path: vec!["第一章".into()],
            start_char: 0,
            end_char: i64::try_from(text.chars().count()).unwrap_or(0),
            text: text.into(),
            score: 1.0,
            keyword_rank: Some(n),
            vector_rank: None,
            rerank_score: None,
        }
    }

    #[test]
    fn language_follows_the_question() {
        assert_eq!(detect_language("生命数耗完即算为什么？"), Language::Zh);
        assert_eq!(
            detect_language("HT-2023-0815 合同的金额是多少"),
            Language::Zh
        );
        assert_eq!(
            detect_language("What is the contract amount?"),
            Language::En
        );
        assert_eq!(detect_language("12345"), Language::En);
    }

    #[test]
    fn token_estimates_differ_by_tokenizer_family() {
        let zh = "这是一个用于估计词元数量的中文句子";
        let qwen = TokenRatio::for_model("qwen2.5-instruct").estimate(zh);
        let smol = TokenRatio::for_model("smollm2-135m").estimate(zh);
        assert!(qwen < zh.chars().count());
        assert!(smol > 2 * zh.chars().count());
        assert_eq!(TokenRatio::for_model("x").estimate(""), 0);
    }

    #[test]
    fn packing_skips_whole_passages_that_do_not_fit() {
        let ratio = TokenRatio::for_model("unknown");
        let long = citation(1, &"长".repeat(400));
        let short = citation(2, "短句。");
        let cites = vec![long, short];
        // Room for the short passage only.
        let budget = Budget {
            context: 300,
            answer: 128,
        };
        let chosen = pack(&cites, 50, budget, ratio);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].n, 2);
        // A large window takes both, in rank order.
        let chosen = pack(&cites, 50, Budget::for_context(8192), ratio);
        assert_eq!(chosen.iter().map(|c| c.n).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn retrieval_only_answer_labels_and_quotes_passages() {
        let text = retrieval_only_answer(&[citation(1, "# 不是标题\n第二行")], Language::Zh);
        assert!(text.starts_with("**未配置生成模型"));
        assert!(text.contains("[1] **合同.pdf · 第 3 页 · 第一章**"));
        assert!(text.contains("> \\# 不是标题  \n> 第二行"), "{text}");
    }

    #[test]
    fn grounded_question_numbers_sources() {
        let a = citation(1, "甲方为北京某公司。");
        let b = citation(2, "合同金额为人民币五十万元。");
        let prompt = grounded_question("合同金额是多少？", &[&a, &b], Language::Zh);
        assert!(prompt.contains("[1] 合同.pdf · 第 3 页"));
        assert!(prompt.contains("[2] 合同.pdf"));
        assert!(prompt.ends_with("问题：合同金额是多少？"));
    }
}
