//! A TCP proxy in front of a real backend server that injects the faults a healthy server will
//! not produce on demand: an error reply built from captured real response bytes, a stall, and
//! a response cut off after some bytes. Also replays captured responses for parsing tests.
//!
//! One request per connection: the proxy reads the request, marks it `Connection: close`, and
//! applies the next queued fault (or none) to it, so faults line up with requests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What to do with one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with these raw HTTP response bytes; the server never sees the request.
    Reply(Vec<u8>),
    /// Read the request and never answer.
    Stall,
    /// Forward; pass the first `n` bytes of the response (head included), then close.
    CutAfter(usize),
    /// Forward; pass the first `n` bytes of the response, then go silent (connection open).
    StallAfter(usize),
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (a base URL such as
    /// `http://127.0.0.1:9997`); with no upstream, requests without a queued fault get a 502.
    pub async fn start(upstream: Option<&str>) -> Self {
        let upstream: Option<SocketAddr> = upstream.map(|u| {
            u.trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .expect("upstream must be http://IP:PORT")
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let faults = Arc::new(Mutex::new(VecDeque::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, r) = (Arc::clone(&faults), Arc::clone(&requests));
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let fault = f.lock().expect("faults").pop_front();
                let r = Arc::clone(&r);
                connections.spawn(async move {
                    let _ = serve(client, upstream, fault, &r).await;
                });
            }
        });
        Self {
            addr,
            faults,
            requests,
            task,
        }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next request that arrives.
    pub fn push(&self, fault: Fault) {
        self.faults.lock().expect("faults").push_back(fault);
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: Option<SocketAddr>,
    fault: Option<Fault>,
    requests: &AtomicUsize,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    requests.fetch_add(1, Ordering::SeqCst);
    let limit = match fault {
        Some(Fault::Reply(bytes)) => {
            client.write_all(&bytes).await?;
            client.shutdown().await?;
            return Ok(());
        }
        Some(Fault::Stall) => {
            // Hold the connection until the client gives up (its timeout) and closes it.
            let mut sink = [0u8; 1024];
            while client.read(&mut sink).await? > 0 {}
            return Ok(());
        }
        Some(Fault::CutAfter(n)) => Some((n, false)),
        Some(Fault::StallAfter(n)) => Some((n, true)),
        None => None,
    };
    let Some(upstream) = upstream else {
        let body = "no upstream behind this fault proxy";
        let reply = format!(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(reply.as_bytes()).await?;
        return Ok(());
    };
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&request).await?;
    let mut passed = 0usize;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = server.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let take = match limit {
            Some((max, _)) => n.min(max.saturating_sub(passed)),
            None => n,
        };
        client.write_all(&buf[..take]).await?;
        passed += take;
        if let Some((max, stall)) = limit {
            if passed >= max {
                if stall {
                    let mut sink = [0u8; 1024];
                    while client.read(&mut sink).await? > 0 {}
                }
                break;
            }
        }
    }
    // Dropping both sockets closes them: mid-body for `CutAfter`, which is the fault.
    Ok(())
}

/// Reads one request (head and `Content-Length` body) and rewrites it to `Connection: close`.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = find(&data, b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + 4 + length {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = data[head_end + 4..].to_vec();
    let mut out: Vec<u8> = head
        .split("\r\n")
        .filter(|l| {
            !l.to_ascii_lowercase().starts_with("connection:")
                && !l.to_ascii_lowercase().starts_with("keep-alive:")
        })
        .flat_map(|l| [l.as_bytes(), b"\r\n"].concat())
        .collect();
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The folder of real Xinference responses captured for client tests, if present.
pub fn captured_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/xinference-responses");
    if dir.join("INDEX.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skip: captured Xinference responses not found at {}",
            dir.display()
        );
        None
    }
}

/// A captured `*.http` response (as `curl -i` saved it) made ready to send again: the status
/// changed to `status` when given, `Content-Length` recomputed from the body as stored, a
/// `Transfer-Encoding: chunked` body re-chunked (curl saved it decoded), and
/// `Connection: close` since the proxy closes the connection after it.
pub fn captured_response(name: &str, status: Option<(u16, &str)>) -> Option<Vec<u8>> {
    let bytes = std::fs::read(captured_dir()?.join(name)).expect("read captured response");
    let head_end = find(&bytes, b"\r\n\r\n").expect("captured response has a head");
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let body = &bytes[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status_line = match status {
        Some((code, reason)) => format!("HTTP/1.1 {code} {reason}"),
        None => status_line.to_owned(),
    };
    let mut chunked = false;
    let mut out = format!("{status_line}\r\n");
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") {
            chunked = lower.contains("chunked");
            continue;
        }
        if lower.starts_with("content-length:") || lower.starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    Some(with_body(out, body, chunked))
}

/// A body-only capture (`*.json`, `*.sse`) behind a minimal 200 head.
pub fn captured_body(name: &str, content_type: &str) -> Option<Vec<u8>> {
    let mut body = std::fs::read(captured_dir()?.join(name)).expect("read captured body");
    // Some captures end with curl's `-w` note ("HTTP 200 0.366220s"), not part of the body.
    let text = String::from_utf8_lossy(&body).into_owned();
    if let Some(i) = text.trim_end().rfind("\nHTTP ") {
        if text[i + 1..].trim_end().ends_with('s') {
            body.truncate(i + 1);
        }
    }
    let chunked = content_type.starts_with("text/event-stream");
    let head = format!("HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-type: {content_type}\r\n");
    Some(with_body(head, &body, chunked))
}

fn with_body(mut head: String, body: &[u8], chunked: bool) -> Vec<u8> {
    head.push_str("connection: close\r\n");
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        let mut out = head.into_bytes();
        // One chunk per ~500 bytes: several reads for the client, as from the live server.
        for piece in body.chunks(500) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    } else {
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        out
    }
}

/// The payload of a chunked body as `with_body` encodes it.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// How long a test waits for something that should take well under it.
pub const PATIENCE: Duration = Duration::from_secs(120);
