//! Server-sent events: a chat answer's `ChatEvent`s, an import's progress and the server's
//! change notices, each as `event: <kind>` + `data: <json>` frames.
//!
//! The core reports through plain callbacks that must never wait, and a client may read slowly:
//! events pass through queues that coalesce instead of growing (tokens merge, a newer HTML
//! snapshot or progress report replaces the older one), so memory stays bounded by the answer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Mutex;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use lexinaut_core::chat::{ChatEvent, ChatMessage};
use lexinaut_core::{ApiError, CoreError};
use serde::Serialize;
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::DropGuard;

use super::error::HttpError;

/// Comment frames keep idle streams open through proxies and notice clients that left.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// One `event: kind` frame with `value` as JSON data.
pub fn frame(kind: &str, value: &impl Serialize) -> Event {
    let data = serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({"code": "internal", "message": e.to_string()}).to_string()
    });
    Event::default().event(kind).data(data)
}

/// An SSE response over `stream`, with keep-alive comments.
pub fn respond<S>(stream: S) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    S: Stream<Item = Event> + Send + 'static,
{
    use futures::StreamExt;
    Sse::new(stream.map(Ok)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The events of one answer, between the core's callback and the client's stream.
#[derive(Default)]
pub struct ChatEventQueue {
    state: Mutex<QueueState>,
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<ChatEvent>,
    closed: bool,
}

impl ChatEventQueue {
    /// Adds an event without waiting. While the reader is behind, a token is appended to the
    /// token before it and a newer HTML snapshot replaces a pending one: what the client gets
    /// is the same text in fewer frames. Nothing else is merged, so the order of kinds holds.
    pub fn push(&self, event: ChatEvent) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let events = &mut state.events;
        match event {
            ChatEvent::Token { text } => {
                // A pending snapshot is stale once more text arrives: the core renders again
                // after the last token.
                if matches!(events.back(), Some(ChatEvent::Rendered { .. })) {
                    events.pop_back();
                }
                if let Some(ChatEvent::Token { text: pending }) = events.back_mut() {
                    pending.push_str(&text);
                } else {
                    events.push_back(ChatEvent::Token { text });
                }
            }
            ChatEvent::Rendered { html } => {
                if let Some(ChatEvent::Rendered { html: pending }) = events.back_mut() {
                    *pending = html;
                } else {
                    events.push_back(ChatEvent::Rendered { html });
                }
            }
            other => events.push_back(other),
        }
        drop(state);
        self.ready.notify_one();
    }

    /// No more events will come (the answer's task ended).
    pub fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
        }
        self.ready.notify_one();
    }

    /// The next event; `None` once closed and drained. One reader only.
    pub async fn next(&self) -> Option<ChatEvent> {
        loop {
            {
                let mut state = self.state.lock().ok()?;
                if let Some(e) = state.events.pop_front() {
                    return Some(e);
                }
                if state.closed {
                    return None;
                }
            }
            // `notify_one` keeps a permit when nobody waits, so a push between the check
            // above and this wait is not lost.
            self.ready.notified().await;
        }
    }

    /// Waits until an event is ready (true) or the queue closed empty (false).
    pub async fn wait_ready(&self) -> bool {
        loop {
            {
                let Ok(state) = self.state.lock() else {
                    return false;
                };
                if !state.events.is_empty() {
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            self.ready.notified().await;
        }
    }
}

/// The SSE frame of a chat event: its `kind` names the event.
fn chat_frame(event: &ChatEvent) -> Event {
    let value = serde_json::to_value(event).unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("event")
        .to_owned();
    Event::default().event(kind).data(value.to_string())
}

/// The frame that ends a stream whose work failed.
fn error_frame(error: &ApiError) -> Event {
    frame("error", error)
}

/// What an answer's stream holds: the queue, the task writing the answer, and the guard that
/// cancels the answer when the stream is dropped (the client disconnected).
pub struct AnswerStream {
    pub queue: std::sync::Arc<ChatEventQueue>,
    pub task: JoinHandle<Result<ChatMessage, CoreError>>,
    pub cancel_on_drop: DropGuard,
}

/// The frames of an answer: every `ChatEvent`, ending after `finished`; an `error` frame when
/// the answer failed after it started.
pub fn answer_events(answer: AnswerStream) -> impl Stream<Item = Event> + Send {
    let AnswerStream {
        queue,
        task,
        cancel_on_drop,
    } = answer;
    futures::stream::unfold(
        Some((queue, Some(task), Some(cancel_on_drop))),
        |state| async move {
            let (queue, mut task, mut guard) = state?;
            match queue.next().await {
                Some(event) => {
                    let finished = matches!(event, ChatEvent::Finished { .. });
                    let frame = chat_frame(&event);
                    if finished {
                        // The answer is stored: leaving now must not cancel anything.
                        if let Some(g) = guard.take() {
                            g.disarm();
                        }
                        Some((frame, None))
                    } else {
                        Some((frame, Some((queue, task, guard))))
                    }
                }
                None => {
                    let result = match task.take() {
                        Some(t) => t.await.map_err(HttpError::from),
                        None => return None,
                    };
                    let frame = match result {
                        Ok(Ok(message)) => chat_frame(&ChatEvent::Finished { message }),
                        Ok(Err(e)) => error_frame(&ApiError::from(e)),
                        Err(e) => error_frame(e.api_error()),
                    };
                    Some((frame, None))
                }
            }
        },
    )
}

/// The frames of a long operation with progress (an import, a model launch): `progress` (the
/// latest report whenever it changes), then `result_kind` with the result, or `error`.
/// Dropping the stream drops `cancel_on_drop`, which stops the operation.
pub fn progress_events<P, R>(
    progress: watch::Receiver<Option<P>>,
    task: JoinHandle<Result<R, CoreError>>,
    cancel_on_drop: DropGuard,
    result_kind: &'static str,
) -> impl Stream<Item = Event> + Send
where
    P: Serialize + Send + Sync + 'static,
    R: Serialize + Send + 'static,
{
    futures::stream::unfold(
        Some((progress, Some(task), Some(cancel_on_drop))),
        move |state| async move {
            let (mut progress, mut task, guard) = state?;
            // `changed` reports a value not yet seen even after the sender is gone, so the
            // final report (an import's `finished: true`) is never skipped.
            while progress.changed().await.is_ok() {
                let frame = progress
                    .borrow_and_update()
                    .as_ref()
                    .map(|p| frame("progress", p));
                if let Some(frame) = frame {
                    return Some((frame, Some((progress, task, guard))));
                }
            }
            let result = task.take()?.await;
            if let Some(g) = guard {
                g.disarm();
            }
            let frame = match result {
                Ok(Ok(value)) => frame(result_kind, &value),
                Ok(Err(e)) => error_frame(&ApiError::from(e)),
                Err(e) => error_frame(HttpError::from(e).api_error()),
            };
            Some((frame, None))
        },
    )
}

/// What `GET /events` reports.
#[derive(Serialize)]
struct CatalogueChanged {
    /// The knowledge base whose documents changed; `null`: some notices were missed, reload all.
    kb_id: Option<i64>,
}

/// The server's change notices: `vector_status` now and on every change, `catalogue_changed`
/// after each import; ends at shutdown.
pub fn change_events(
    changes: broadcast::Receiver<i64>,
    mut status: watch::Receiver<lexinaut_core::vectors::VectorStatus>,
    shutdown: lexinaut_core::CancellationToken,
) -> impl Stream<Item = Event> + Send {
    status.mark_changed();
    futures::stream::unfold(Some((changes, status, shutdown)), |state| async move {
        let (mut changes, mut status, shutdown) = state?;
        let frame = tokio::select! {
            () = shutdown.cancelled() => None,
            changed = status.changed() => match changed {
                Ok(()) => Some(frame("vector_status", &*status.borrow_and_update())),
                Err(_) => None,
            },
            kb = changes.recv() => match kb {
                Ok(kb_id) => Some(frame("catalogue_changed", &CatalogueChanged { kb_id: Some(kb_id) })),
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    Some(frame("catalogue_changed", &CatalogueChanged { kb_id: None }))
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
        }?;
        Some((frame, Some((changes, status, shutdown))))
    })
}
