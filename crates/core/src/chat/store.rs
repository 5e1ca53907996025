//! Conversations and their messages in the catalogue database, with each answer's citations,
//! so a reopened conversation shows the same sources it was answered from.

use sqlx::{Row, SqlitePool};

use super::{AnswerMode, ChatMessage, Citation, Conversation, MessageStatus, Role};
use crate::catalogue::{now_ms, Catalogue};
use crate::error::CoreError;

const CONVERSATION_COLUMNS: &str = "c.id, c.kb_id, c.title, c.created_at, c.updated_at, \
     (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count";

fn conversation_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Conversation, CoreError> {
    Ok(Conversation {
        id: r.try_get("id")?,
        kb_id: r.try_get("kb_id")?,
        title: r.try_get("title")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        message_count: r.try_get("message_count")?,
    })
}

fn message_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ChatMessage, CoreError> {
    let role: String = r.try_get("role")?;
    let mode: Option<String> = r.try_get("mode")?;
    let status: String = r.try_get("status")?;
    let citations: String = r.try_get("citations")?;
    Ok(ChatMessage {
        id: r.try_get("id")?,
        conversation_id: r.try_get("conversation_id")?,
        role: if role == "user" {
            Role::User
        } else {
            Role::Assistant
        },
        content: r.try_get("content")?,
        html: String::new(),
        mode: mode.as_deref().and_then(AnswerMode::parse),
        status: MessageStatus::parse(&status),
        error: r.try_get("error")?,
        citations: serde_json::from_str(&citations).unwrap_or_default(),
        retrieval_query: r.try_get("retrieval_query")?,
        created_at: r.try_get("created_at")?,
    })
}

pub(crate) async fn create(
    pool: &SqlitePool,
    kb_id: i64,
    title: &str,
) -> Result<Conversation, CoreError> {
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (kb_id, title, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
    )
    .bind(kb_id)
    .bind(title)
    .bind(now)
    .bind(now)
    .fetch_one(pool)
    .await?;
    get(pool, id).await
}

pub(crate) async fn get(pool: &SqlitePool, id: i64) -> Result<Conversation, CoreError> {
    let row = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| CoreError::NotFound(format!("conversation {id}")))?;
    conversation_from_row(&row)
}

pub(crate) async fn list(pool: &SqlitePool, kb_id: i64) -> Result<Vec<Conversation>, CoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.kb_id = ? \
         ORDER BY c.updated_at DESC, c.id DESC"
    ))
    .bind(kb_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(conversation_from_row).collect()
}

pub(crate) async fn rename(
    pool: &SqlitePool,
    id: i64,
    title: &str,
) -> Result<Conversation, CoreError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(CoreError::InvalidInput(
            "conversation title is empty".into(),
        ));
    }
    let done = sqlx::query("UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?")
        .bind(title)
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::NotFound(format!("conversation {id}")));
    }
    get(pool, id).await
}

pub(crate) async fn delete(pool: &SqlitePool, id: i64) -> Result<(), CoreError> {
    let done = sqlx::query("DELETE FROM conversations WHERE id = ?")
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(CoreError::NotFound(format!("conversation {id}")));
    }
    Ok(())
}

pub(crate) async fn messages(
    pool: &SqlitePool,
    conversation_id: i64,
) -> Result<Vec<ChatMessage>, CoreError> {
    let rows = sqlx::query(
        "SELECT id, conversation_id, role, content, mode, status, error, citations, retrieval_query, \
           created_at FROM messages WHERE conversation_id = ? ORDER BY id",
    )
    .bind(conversation_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(message_from_row).collect()
}

/// A message to store.
pub(crate) struct NewMessage<'a> {
    pub conversation_id: i64,
    pub role: Role,
    pub content: &'a str,
    pub mode: Option<AnswerMode>,
    pub status: MessageStatus,
    pub error: Option<&'a str>,
    pub citations: &'a [Citation],
    pub retrieval_query: Option<&'a str>,
}

pub(crate) async fn insert(
    catalogue: &Catalogue,
    m: NewMessage<'_>,
) -> Result<ChatMessage, CoreError> {
    let now = now_ms();
    let (turn, mut tx) = catalogue.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, role, content, mode, status, error, citations, \
           retrieval_query, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(m.conversation_id)
    .bind(m.role.as_str())
    .bind(m.content)
    .bind(m.mode.map(AnswerMode::as_str))
    .bind(m.status.as_str())
    .bind(m.error)
    .bind(serde_json::to_string(m.citations).unwrap_or_else(|_| "[]".into()))
    .bind(m.retrieval_query)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE conversations SET updated_at = ? WHERE id = ?")
        .bind(now)
        .bind(m.conversation_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // The message is read back without holding up other writers.
    drop(turn);
    let row = sqlx::query(
        "SELECT id, conversation_id, role, content, mode, status, error, citations, retrieval_query, \
           created_at FROM messages WHERE id = ?",
    )
    .bind(id)
    .fetch_one(&catalogue.pool)
    .await?;
    message_from_row(&row)
}

/// Removes the last question and its answer (for "regenerate"); returns the question.
pub(crate) async fn pop_last_exchange(
    catalogue: &Catalogue,
    conversation_id: i64,
) -> Result<String, CoreError> {
    // Reads then deletes: the write lock is taken first (see `Catalogue::begin_write`).
    let (_turn, mut tx) = catalogue.begin_write().await?;
    let last_user: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, content FROM messages WHERE conversation_id = ? AND role = 'user' ORDER BY id DESC LIMIT 1",
    )
    .bind(conversation_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, question)) = last_user else {
        return Err(CoreError::InvalidInput(format!(
            "conversation {conversation_id} has no question to regenerate"
        )));
    };
    sqlx::query("DELETE FROM messages WHERE conversation_id = ? AND id >= ?")
        .bind(conversation_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(question)
}
