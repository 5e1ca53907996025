//! Clients for the model and vector backends: Xinference (embeddings, rerank, streamed chat,
//! model launching) and Chroma (vectors), over HTTP, with one error type and one retry policy.
//!
//! Both clients are cheap to clone (an `Arc` inside) and safe to share between tasks; build them
//! once from the [`Config`](crate::Config) with [`Config::xinference_client`](crate::Config::xinference_client)
//! and [`Config::chroma_client`](crate::Config::chroma_client).
//!
//! Failure model, for callers deciding what to do:
//! - [`BackendError::is_unavailable`] is true when the backend is down, overloaded or too slow:
//!   keep the work queued and try again later (nothing is lost).
//! - Every other error is a refusal (bad model uid, wrong dimension, ...) that repeating will not fix.
//! - Retries with exponential backoff happen inside the clients for idempotent calls
//!   ([`RetryPolicy`]); a caller sees an error only after the last attempt.

mod chroma;
mod chroma_server;
mod http;
mod retry;
mod sse;
mod xinference;

use serde::Serialize;

pub use chroma::{
    collection_name, ChromaClient, ChromaOptions, Collection, CollectionMetadata, PreFlight,
    VectorHit, VectorRecord,
};
pub use chroma_server::{find_chroma_bin, ChromaServer};
pub use retry::RetryPolicy;
pub use xinference::{
    ChatCompletion, ChatEvent, ChatMessage, ChatRequest, ChatRole, ChatStream, ChatUsage,
    LaunchProgress, LaunchSpec, ModelType, RegisteredModel, RerankHit, RunningModel,
    XinferenceClient, XinferenceOptions,
};

/// Which backend an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The Xinference model server.
    Xinference,
    /// The Chroma vector database.
    Chroma,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Xinference => "Xinference",
            Self::Chroma => "Chroma",
        })
    }
}

/// Everything that can go wrong talking to a backend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// No connection could be made, or it broke before the answer was complete.
    #[error("{backend} at {url} is unreachable: {reason}")]
    Unreachable {
        /// Which backend.
        backend: Backend,
        /// The URL that was called.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The backend did not answer (or stopped sending) within the configured time.
    #[error("{backend} at {url} did not answer within {seconds:.1} s")]
    Timeout {
        /// Which backend.
        backend: Backend,
        /// The URL that was called.
        url: String,
        /// The limit that ran out, in seconds.
        seconds: f64,
    },
    /// The backend answered with an HTTP error status.
    #[error("{backend} refused the request (HTTP {status}): {detail}")]
    Http {
        /// Which backend.
        backend: Backend,
        /// HTTP status code.
        status: u16,
        /// The backend's explanation: JSON `detail`/`message`, else the text body.
        detail: String,
    },
    /// The backend answered something this client does not understand.
    #[error("{backend} sent an unexpected response: {detail}")]
    Protocol {
        /// Which backend.
        backend: Backend,
        /// What was wrong with it.
        detail: String,
    },
    /// A streamed answer carried an error (`data: {"error": ...}`) or ended before it was done.
    #[error("{backend} stream failed: {detail}")]
    Stream {
        /// Which backend.
        backend: Backend,
        /// The error the backend sent, or what was missing.
        detail: String,
    },
    /// The caller cancelled the operation.
    #[error("cancelled")]
    Cancelled,
}

impl BackendError {
    /// The backend the error came from (`None` for [`BackendError::Cancelled`]).
    pub fn backend(&self) -> Option<Backend> {
        match self {
            Self::Unreachable { backend, .. }
            | Self::Timeout { backend, .. }
            | Self::Http { backend, .. }
            | Self::Protocol { backend, .. }
            | Self::Stream { backend, .. } => Some(*backend),
            Self::Cancelled => None,
        }
    }

    /// True when the backend is down, overloaded or too slow rather than refusing the request:
    /// the work should stay queued and be tried again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Http { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            Self::Protocol { .. } | Self::Stream { .. } | Self::Cancelled => false,
        }
    }

    /// The HTTP status, for [`BackendError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}
