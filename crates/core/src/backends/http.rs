//! The HTTP plumbing both backend clients share: one `reqwest` client per backend, timeouts,
//! and the mapping of transport failures and error bodies onto [`BackendError`].

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{Backend, BackendError, RetryPolicy};

/// Longest error detail kept from a response body, in characters.
const MAX_DETAIL_CHARS: usize = 2000;
/// Most bytes read from an error body: enough for any JSON detail, bounded against HTML pages.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// One backend's base URL with the client and policies used to call it.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub backend: Backend,
    base: String,
    http: reqwest::Client,
    pub retry: RetryPolicy,
}

impl Endpoint {
    /// `headers` go on every request (auth). Loopback URLs bypass any configured HTTP proxy:
    /// a corporate proxy cannot reach a server on this machine.
    pub fn new(
        backend: Backend,
        base_url: &str,
        headers: HeaderMap,
        connect_timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, BackendError> {
        let base = base_url.trim().trim_end_matches('/');
        // `127.0.0.1:9997` as people type it (and as Xinference prints it) means http.
        let base = if base.contains("://") {
            base.to_owned()
        } else {
            format!("http://{base}")
        };
        let invalid = |reason: String| BackendError::Unreachable {
            backend,
            url: base.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&base).map_err(|e| invalid(format!("invalid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                "the URL must start with http:// or https://".into(),
            ));
        }
        let loopback = url.host_str().is_some_and(|host| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .default_headers(headers)
            .user_agent(concat!("lexinaut/", env!("CARGO_PKG_VERSION")));
        if loopback {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            backend,
            base,
            http,
            retry,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` with the default headers.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// Sends once: a 2xx response, or the error it stands for.
    pub async fn send(
        &self,
        rb: RequestBuilder,
        url: &str,
        timeout: Duration,
    ) -> Result<Response, BackendError> {
        let resp = rb
            .send()
            .await
            .map_err(|e| self.transport(&e, url, timeout))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.http_error(resp, url, timeout).await)
        }
    }

    /// One JSON call: sends `body` (if any) and parses the 2xx answer as `T`.
    pub async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T, BackendError> {
        let url = self.url(path);
        let mut rb = self.http.request(method, &url).timeout(timeout);
        if let Some(body) = body {
            rb = rb.json(body);
        }
        let resp = self.send(rb, &url, timeout).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport(&e, &url, timeout))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            self.protocol(format!(
                "{path}: {e}; the body starts with {:?}",
                preview(&bytes)
            ))
        })
    }

    /// [`Endpoint::call`] under the retry policy: only for idempotent requests.
    pub async fn call_retrying<T: DeserializeOwned, B: Serialize + ?Sized + Sync>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T, BackendError> {
        self.retry
            .run(|| self.call(method.clone(), path, body, timeout))
            .await
    }

    /// A transport failure (no connection, broken connection, timeout) as a `BackendError`.
    pub fn transport(&self, e: &reqwest::Error, url: &str, timeout: Duration) -> BackendError {
        if e.is_timeout() {
            return BackendError::Timeout {
                backend: self.backend,
                url: url.into(),
                seconds: timeout.as_secs_f64(),
            };
        }
        if e.is_decode() {
            return self.protocol(error_chain(e));
        }
        BackendError::Unreachable {
            backend: self.backend,
            url: url.into(),
            reason: error_chain(e),
        }
    }

    /// A `Protocol` error of this backend.
    pub fn protocol(&self, detail: impl Into<String>) -> BackendError {
        BackendError::Protocol {
            backend: self.backend,
            detail: detail.into(),
        }
    }

    /// Reads a non-2xx response into an `Http` error, keeping the server's explanation.
    async fn http_error(&self, mut resp: Response, url: &str, timeout: Duration) -> BackendError {
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() >= MAX_ERROR_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                // The status is what matters; a body cut short still says something.
                Err(e) if body.is_empty() => {
                    tracing::debug!(error = %self.transport(&e, url, timeout), "error body unreadable");
                    break;
                }
                Err(_) => break,
            }
        }
        BackendError::Http {
            backend: self.backend,
            status,
            detail: error_detail(&body),
        }
    }
}

/// The explanation in an error body: FastAPI's `{"detail": ...}` (Xinference), Chroma's
/// `{"error": kind, "message": ...}`, an OpenAI-style `{"error": {"message": ...}}`, else the text
/// (Xinference answers some failures with `text/plain`).
pub(crate) fn error_detail(body: &[u8]) -> String {
    let detail = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            if let Some(detail) = map.get("detail") {
                value_text(detail)
            } else if let Some(message) = map.get("message") {
                match map.get("error") {
                    Some(Value::String(kind)) => format!("{kind}: {}", value_text(message)),
                    _ => value_text(message),
                }
            } else if let Some(error) = map.get("error") {
                value_text(error)
            } else {
                Value::Object(map).to_string()
            }
        }
        Ok(Value::String(s)) => s,
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    if detail.is_empty() {
        return "(no explanation in the response)".into();
    }
    truncate(detail, MAX_DETAIL_CHARS)
}

/// A JSON value as text: strings as they are, `{"message": m}` as `m`, the rest as JSON.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(map) => match map.get("message") {
            Some(Value::String(m)) => m.clone(),
            _ => v.to_string(),
        },
        _ => v.to_string(),
    }
}

fn truncate(mut s: String, max_chars: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The first bytes of a body, for error messages.
pub(crate) fn preview(bytes: &[u8]) -> String {
    truncate(String::from_utf8_lossy(bytes).into_owned(), 200)
}

/// An error and its causes, joined: reqwest's top-level message alone ("error sending request")
/// hides the reason (connection refused, reset, ...).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Percent-encodes one URL path segment (a model uid, a collection name or id).
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{error_detail, Endpoint};
    use crate::backends::{Backend, BackendError, RetryPolicy};

    fn endpoint(url: &str) -> Result<Endpoint, BackendError> {
        Endpoint::new(
            Backend::Chroma,
            url,
            Default::default(),
            Duration::from_secs(1),
            RetryPolicy::none(),
        )
    }

    #[test]
    fn base_urls_are_normalized() {
        let ep = endpoint(" 127.0.0.1:8000/ ").expect("scheme-less URL");
        assert_eq!(
            ep.url("/api/v2/heartbeat"),
            "http://127.0.0.1:8000/api/v2/heartbeat"
        );
        assert_eq!(
            endpoint("https://chroma.example.com/")
                .expect("https")
                .base(),
            "https://chroma.example.com"
        );
        assert!(matches!(
            endpoint("ftp://x"),
            Err(BackendError::Unreachable { .. })
        ));
        assert!(matches!(
            endpoint(""),
            Err(BackendError::Unreachable { .. })
        ));
        assert!(matches!(
            endpoint("http://[::1"),
            Err(BackendError::Unreachable { .. })
        ));
    }

    #[test]
    fn error_bodies_of_both_servers() {
        assert_eq!(
            error_detail(br#"{"detail":"Model not found"}"#),
            "Model not found"
        );
        assert_eq!(
            error_detail(br#"{"error":"NotFoundError","message":"Collection [x] does not exist"}"#),
            "NotFoundError: Collection [x] does not exist"
        );
        assert_eq!(error_detail(br#"{"error":{"message":"bad"}}"#), "bad");
        assert_eq!(
            error_detail(br#"{"detail":[{"loc":["body","input"],"msg":"field required"}]}"#),
            r#"[{"loc":["body","input"],"msg":"field required"}]"#
        );
        assert_eq!(
            error_detail(b"Internal Server Error: x\n"),
            "Internal Server Error: x"
        );
        assert_eq!(error_detail(b""), "(no explanation in the response)");
        assert_eq!(
            error_detail("长".repeat(3000).as_bytes()).chars().count(),
            2001
        );
    }
}
