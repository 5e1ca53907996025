//! Errors: `CoreError` inside the core, and `ApiError`, the one serializable shape with stable
//! codes that every adapter (desktop, CLI, HTTP) hands to its caller.

use std::path::PathBuf;

use serde::Serialize;

/// Everything that can go wrong in a core operation.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The catalogue database failed.
    #[error("catalogue database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The catalogue could not be brought to the current schema.
    #[error("catalogue migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A thing with that name exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The caller's input cannot be used.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A file or directory could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file could not be extracted.
    #[error(transparent)]
    Extract(#[from] lexinaut_extract::ExtractError),
    /// A model or vector backend failed or refused.
    #[error(transparent)]
    Backend(#[from] crate::backends::BackendError),
    /// A background task panicked or was aborted.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Stable error codes for callers (UI, scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Something named does not exist.
    NotFound,
    /// A name is taken.
    AlreadyExists,
    /// The request cannot be used as given.
    InvalidInput,
    /// A file could not be read or was not a usable document.
    File,
    /// A fault inside LexiNaut or its database.
    Internal,
    /// A backend (Xinference, Chroma) is down, overloaded or too slow: try again later.
    BackendUnavailable,
    /// A backend refused the request or answered something unusable.
    Backend,
    /// The HTTP server needs a valid access token for this request.
    Unauthorized,
}

/// The boundary error: a code to branch on and a message naming the thing and the reason.
#[derive(Debug, Clone, Serialize, specta::Type, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A sentence for the user.
    pub message: String,
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let code = match &e {
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            CoreError::InvalidInput(_) => ErrorCode::InvalidInput,
            CoreError::Io { .. } | CoreError::Extract(_) => ErrorCode::File,
            CoreError::Database(_) | CoreError::Migrate(_) | CoreError::Task(_) => {
                ErrorCode::Internal
            }
            CoreError::Backend(b) if b.is_unavailable() => ErrorCode::BackendUnavailable,
            CoreError::Backend(_) => ErrorCode::Backend,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}
