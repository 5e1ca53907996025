//! Questions and answers over a real catalogue: retrieval-only answers with citations whose
//! spans open the right text, conversations persisted and exported, filters, and the
//! streaming contract (partial answers kept, cancel) with a scripted model.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use lexinaut_core::chat::prompt::PromptMessage;
use lexinaut_core::chat::{
    AnswerMode, AskRequest, ChatEvent, ChatModel, ChatModelInfo, MessageStatus, RetrievalMode, Role,
};
use lexinaut_core::{CancellationToken, CoreError, SearchFilter};

use crate::support::{TestLibrary, GO, PANDA};

fn ask(kb_id: i64, question: &str) -> AskRequest {
    AskRequest {
        kb_id,
        question: question.into(),
        ..AskRequest::default()
    }
}

fn recorder() -> (Arc<Mutex<Vec<ChatEvent>>>, impl Fn(ChatEvent) + Send + Sync) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |e| sink.lock().expect("events").push(e))
}

#[tokio::test]
async fn without_a_model_the_answer_is_the_best_passages_with_exact_spans() {
    let t = TestLibrary::open().await;
    let kb = t.kb("问答").await;
    let paths = t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let panda = t.doc(kb.id, &paths[1]).await;

    let (events, sink) = recorder();
    let answer = t
        .lib
        .ask(
            ask(kb.id, "大熊猫一天吃多少竹子？"),
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("ask");
    assert_eq!(answer.role, Role::Assistant);
    assert_eq!(answer.mode, Some(AnswerMode::RetrievalOnly));
    assert_eq!(answer.status, MessageStatus::Complete);
    assert!(
        answer.content.starts_with("**未配置生成模型"),
        "{}",
        answer.content
    );
    assert!(answer.content.contains("二十公斤"), "{}", answer.content);
    assert!(answer.html.contains("<blockquote>"), "{}", answer.html);
    let top = &answer.citations[0];
    assert_eq!(top.n, 1);
    assert_eq!(top.document_id, panda.id);
    assert_eq!(top.name, "熊猫.txt");
    assert!(answer.citations.len() <= 5);

    // The span points at the passage in the document's text: the viewer highlights it.
    let view = t
        .lib
        .source_view(top.document_id, top.start_char, top.end_char)
        .await
        .expect("source view");
    let highlighted: String = view
        .text
        .chars()
        .skip(usize::try_from(view.highlight_start).expect("start"))
        .take(usize::try_from(view.highlight_end - view.highlight_start).expect("len"))
        .collect();
    assert_eq!(highlighted, top.text);
    assert_eq!(view.document.id, panda.id);
    assert!(PANDA.contains(view.text.trim()), "{:?}", view.text);

    // Events: Started (with the citations), the text, a rendering, Finished; in that order.
    let events = events.lock().expect("events");
    assert!(
        matches!(&events[0], ChatEvent::Started { citations, mode: AnswerMode::RetrievalOnly, .. } if citations.len() == answer.citations.len())
    );
    assert!(
        matches!(events.last(), Some(ChatEvent::Finished { message }) if message.id == answer.id)
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, ChatEvent::Rendered { html } if html == &answer.html)));
}

#[tokio::test]
async fn nothing_found_is_said_honestly() {
    let t = TestLibrary::open().await;
    let kb = t.kb("空").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let (_, sink) = recorder();
    let answer = t
        .lib
        .ask(
            ask(kb.id, "区块链钱包地址"),
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("ask");
    assert_eq!(answer.mode, Some(AnswerMode::NoPassages));
    assert!(answer.citations.is_empty());
    assert!(answer.content.contains("没有找到"), "{}", answer.content);

    let english = t
        .lib
        .ask(
            ask(kb.id, "blockchain wallet"),
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("ask");
    assert!(
        english
            .content
            .starts_with("Nothing in this knowledge base"),
        "{}",
        english.content
    );
}

#[tokio::test]
async fn conversations_persist_rename_export_and_delete() {
    let t = TestLibrary::open().await;
    let kb = t.kb("对话").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let (_, sink) = recorder();
    let first = t
        .lib
        .ask(
            ask(kb.id, "围棋棋盘有多少个交叉点？"),
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("first question");
    let follow_up = AskRequest {
        conversation_id: Some(first.conversation_id),
        ..ask(kb.id, "聂卫平被誉为什么？")
    };
    t.lib
        .ask(follow_up, &sink, CancellationToken::new())
        .await
        .expect("follow-up");

    let t = t.reopened().await;
    let conversations = t.lib.conversations(kb.id).await.expect("list");
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].title, "围棋棋盘有多少个交叉点？");
    assert_eq!(conversations[0].message_count, 4);
    let messages = t
        .lib
        .conversation_messages(first.conversation_id)
        .await
        .expect("messages");
    let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert_eq!(
        messages[1].citations, first.citations,
        "citations are stored with the answer"
    );
    assert!(!messages[1].html.is_empty());
    assert!(
        messages[3].content.contains("棋圣"),
        "{}",
        messages[3].content
    );

    let renamed = t
        .lib
        .rename_conversation(first.conversation_id, "围棋")
        .await
        .expect("rename");
    assert_eq!(renamed.title, "围棋");
    assert!(matches!(
        t.lib.rename_conversation(first.conversation_id, "  ").await,
        Err(CoreError::InvalidInput(_))
    ));

    let md = t
        .lib
        .export_conversation(first.conversation_id)
        .await
        .expect("export");
    assert!(md.starts_with("# 围棋\n"), "{md}");
    assert!(md.contains("## 问\n\n围棋棋盘有多少个交叉点？"), "{md}");
    assert!(md.contains("**来源**"), "{md}");
    assert!(md.contains("围棋.txt"), "{md}");

    // Regenerate replaces the last answer rather than adding a third exchange.
    t.lib
        .regenerate(first.conversation_id, &sink, CancellationToken::new())
        .await
        .expect("regenerate");
    let messages = t
        .lib
        .conversation_messages(first.conversation_id)
        .await
        .expect("messages");
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2].content, "聂卫平被誉为什么？");

    t.lib
        .delete_conversation(first.conversation_id)
        .await
        .expect("delete");
    assert!(t.lib.conversations(kb.id).await.expect("list").is_empty());
    assert!(matches!(
        t.lib.conversation_messages(first.conversation_id).await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn filters_limit_the_sources_and_bad_requests_are_refused() {
    let t = TestLibrary::open().await;
    let kb = t.kb("过滤").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;
    let (_, sink) = recorder();

    // Only Markdown: the tea text cannot be cited, even for a question about tea.
    let md_only = AskRequest {
        filter: SearchFilter {
            formats: vec!["markdown".into()],
            ..SearchFilter::default()
        },
        ..ask(kb.id, "中国")
    };
    let answer = t
        .lib
        .ask(md_only, &sink, CancellationToken::new())
        .await
        .expect("ask");
    assert!(!answer.citations.is_empty());
    assert!(
        answer.citations.iter().all(|c| c.path.ends_with(".md")),
        "{:#?}",
        answer.citations
    );

    // Only the history folder.
    let folder = t.docs_dir().join("历史").display().to_string();
    let answer = t
        .lib
        .ask(
            AskRequest {
                filter: SearchFilter {
                    folder: Some(folder.clone()),
                    ..SearchFilter::default()
                },
                ..ask(kb.id, "中国")
            },
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("ask");
    assert!(!answer.citations.is_empty());
    assert!(answer.citations.iter().all(|c| c.path.starts_with(&folder)));

    for bad in ["", "   "] {
        assert!(matches!(
            t.lib
                .ask(ask(kb.id, bad), &sink, CancellationToken::new())
                .await,
            Err(CoreError::InvalidInput(_))
        ));
    }
    assert!(matches!(
        t.lib
            .ask(
                ask(kb.id, &"长".repeat(5000)),
                &sink,
                CancellationToken::new()
            )
            .await,
        Err(CoreError::InvalidInput(_))
    ));
    assert!(matches!(
        t.lib
            .ask(ask(9999, "问题"), &sink, CancellationToken::new())
            .await,
        Err(CoreError::NotFound(_))
    ));
    // Vector retrieval asked for explicitly, with no vector backend configured: a clear error.
    assert!(matches!(
        t.lib
            .ask(
                AskRequest {
                    mode: RetrievalMode::Vector,
                    ..ask(kb.id, "中国")
                },
                &sink,
                CancellationToken::new()
            )
            .await,
        Err(CoreError::InvalidInput(_))
    ));
}

/// A model that replays a script: text pieces, then optionally an error.
struct ScriptedModel {
    pieces: Vec<&'static str>,
    fail_after: Option<&'static str>,
    delay: Duration,
    prompts: Mutex<Vec<Vec<PromptMessage>>>,
}

impl ChatModel for ScriptedModel {
    fn info(&self) -> BoxFuture<'_, ChatModelInfo> {
        Box::pin(async {
            ChatModelInfo {
                name: "qwen-scripted".into(),
                context_tokens: Some(2048),
            }
        })
    }
    fn stream(
        &self,
        messages: Vec<PromptMessage>,
        _max_tokens: u32,
        _cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Result<String, CoreError>>, CoreError>> {
        self.prompts.lock().expect("prompts").push(messages);
        let mut items: Vec<Result<String, CoreError>> =
            self.pieces.iter().map(|p| Ok((*p).to_owned())).collect();
        if let Some(e) = self.fail_after {
            items.push(Err(CoreError::InvalidInput(e.into())));
        }
        let delay = self.delay;
        Box::pin(async move {
            let s = futures::stream::iter(items).then(move |item| async move {
                tokio::time::sleep(delay).await;
                item
            });
            Ok(Box::pin(s) as BoxStream<'static, _>)
        })
    }
}

use futures::StreamExt;

#[tokio::test]
async fn generated_answers_stream_and_keep_partial_text_on_failure() {
    let t = TestLibrary::open().await;
    let kb = t.kb("生成").await;
    t.write_samples();
    t.ingest(kb.id, &[t.docs_dir()]).await;

    let model = Arc::new(ScriptedModel {
        pieces: vec!["棋盘", "有三百六十一个", "交叉点[1]。"],
        fail_after: None,
        delay: Duration::ZERO,
        prompts: Mutex::new(Vec::new()),
    });
    t.lib.set_chat_model(Some(model.clone()));
    let (events, sink) = recorder();
    let answer = t
        .lib
        .ask(
            ask(kb.id, "围棋棋盘有多少个交叉点？"),
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("ask");
    assert_eq!(answer.mode, Some(AnswerMode::Generated));
    assert_eq!(answer.content, "棋盘有三百六十一个交叉点[1]。");
    assert!(answer.html.contains("data-cite=\"1\""), "{}", answer.html);
    let tokens: Vec<String> = events
        .lock()
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Token { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens, vec!["棋盘", "有三百六十一个", "交叉点[1]。"]);
    // The prompt: Chinese system prompt, numbered sources holding the answer, the question last.
    let last = model
        .prompts
        .lock()
        .expect("prompts")
        .last()
        .cloned()
        .expect("a prompt");
    assert_eq!(last[0].role, "system");
    assert!(last[0].content.contains("只根据"));
    let user = &last.last().expect("user turn").content;
    assert!(user.contains("[1] 围棋.txt"), "{user}");
    assert!(user.contains("三百六十一个交叉点"), "{user}");
    assert!(user.ends_with("问题：围棋棋盘有多少个交叉点？"), "{user}");
    assert!(GO.contains("三百六十一个交叉点"));

    // The backend dies mid-answer: the text so far is kept, marked partial, with the reason.
    t.lib.set_chat_model(Some(Arc::new(ScriptedModel {
        pieces: vec!["聂卫平", "被誉为"],
        fail_after: Some("connection reset by the model server"),
        delay: Duration::ZERO,
        prompts: Mutex::new(Vec::new()),
    })));
    let partial = t
        .lib
        .ask(
            ask(kb.id, "聂卫平被誉为什么？"),
            &sink,
            CancellationToken::new(),
        )
        .await
        .expect("ask returns the partial answer");
    assert_eq!(partial.status, MessageStatus::Partial);
    assert_eq!(partial.content, "聂卫平被誉为");
    assert!(partial
        .error
        .as_deref()
        .unwrap_or("")
        .contains("connection reset"));

    // Cancel: stops the stream, keeps what was written, marked cancelled.
    t.lib.set_chat_model(Some(Arc::new(ScriptedModel {
        pieces: vec!["一"; 200],
        fail_after: None,
        delay: Duration::from_millis(20),
        prompts: Mutex::new(Vec::new()),
    })));
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        stopper.cancel();
    });
    let stopped = t
        .lib
        .ask(ask(kb.id, "围棋起源于哪里？"), &sink, cancel)
        .await
        .expect("ask returns the cancelled answer");
    assert_eq!(stopped.status, MessageStatus::Cancelled);
    let n = stopped.content.chars().count();
    assert!(n > 0 && n < 200, "{n} pieces before the cancel");
}
