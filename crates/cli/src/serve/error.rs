//! The server's error response: the core's `ApiError` `{code, message}` as JSON, with the HTTP
//! status its code stands for, and extractors whose rejections take the same shape.

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lexinaut_core::{ApiError, CoreError, ErrorCode};

/// An error on its way to an HTTP client.
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    body: ApiError,
}

impl HttpError {
    /// An error whose status follows from its code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: status_of(code),
            body: ApiError {
                code,
                message: message.into(),
            },
        }
    }

    /// An error with an explicit status (body limits: 413, unsupported media: 415).
    pub fn with_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiError {
                code,
                message: message.into(),
            },
        }
    }

    /// The request carries no valid access token.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "this server needs an access token: send `Authorization: Bearer <token>`",
        )
    }

    /// The server is at its limit for this kind of work; the client should retry later.
    pub fn busy(what: &str) -> Self {
        Self::new(
            ErrorCode::BackendUnavailable,
            format!("the server is busy with other {what}; try again shortly"),
        )
    }

    /// A failure inside the server.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The boundary error carried.
    pub fn api_error(&self) -> &ApiError {
        &self.body
    }

    /// A rejection from one of axum's extractors: its status, our shape.
    fn rejected(status: StatusCode, text: String) -> Self {
        let code = if status.is_server_error() {
            ErrorCode::Internal
        } else {
            ErrorCode::InvalidInput
        };
        Self::with_status(status, code, text)
    }
}

/// The HTTP status each stable code stands for.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists => StatusCode::CONFLICT,
        ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorCode::File => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Backend => StatusCode::BAD_GATEWAY,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
    }
}

impl From<CoreError> for HttpError {
    fn from(e: CoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApiError> for HttpError {
    fn from(body: ApiError) -> Self {
        Self {
            status: status_of(body.code),
            body,
        }
    }
}

impl From<tokio::task::JoinError> for HttpError {
    fn from(e: tokio::task::JoinError) -> Self {
        CoreError::Task(e).into()
    }
}

impl From<JsonRejection> for HttpError {
    fn from(r: JsonRejection) -> Self {
        Self::rejected(r.status(), r.body_text())
    }
}

impl From<PathRejection> for HttpError {
    fn from(r: PathRejection) -> Self {
        Self::rejected(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for HttpError {
    fn from(r: QueryRejection) -> Self {
        Self::rejected(r.status(), r.body_text())
    }
}

impl From<MultipartRejection> for HttpError {
    fn from(r: MultipartRejection) -> Self {
        Self::rejected(r.status(), r.body_text())
    }
}

impl From<MultipartError> for HttpError {
    fn from(e: MultipartError) -> Self {
        Self::rejected(e.status(), e.body_text())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = ?self.body.code, "{}", self.body.message);
        }
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// `axum::Json` whose rejection is an `ApiError`.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(HttpError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path` whose rejection is an `ApiError`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(HttpError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` whose rejection is an `ApiError`.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct ApiQuery<T>(pub T);
