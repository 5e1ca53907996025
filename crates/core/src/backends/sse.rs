//! Server-sent events: an incremental decoder of a `text/event-stream` body into the `data` of
//! each event, tolerant of CRLF, CR or LF line ends and of lines split across network reads.

/// Longest line accepted: a stream that never ends its line is not an event stream.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Feeds on body bytes as they arrive and yields complete events' `data`.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    buf: Vec<u8>,
    data: Option<String>,
}

/// A line longer than [`MAX_LINE_BYTES`].
#[derive(Debug)]
pub(crate) struct LineTooLong;

impl SseDecoder {
    /// Adds `bytes` and returns the `data` of every event they complete, in order. Lines are
    /// decoded only when whole, so a UTF-8 character split between two reads stays intact.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, LineTooLong> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buf[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        {
            let end = start + offset;
            let next = if self.buf[end] == b'\r' {
                match self.buf.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    // A CR at the end of what we have: wait to see whether an LF follows.
                    None => break,
                }
            } else {
                end + 1
            };
            let line = self.buf[start..end].to_vec();
            self.line(&line, &mut events);
            start = next;
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(events)
    }

    /// At the end of the body: the last event even when the server did not close it with a
    /// blank line (the spec drops it; being lenient loses nothing here).
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.strip_suffix(b"\r").unwrap_or(&rest);
        let mut events = Vec::new();
        if !rest.is_empty() {
            self.line(rest, &mut events);
        }
        self.line(b"", &mut events);
        events.pop()
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<String>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                events.push(data);
            }
            return;
        }
        if line[0] == b':' {
            return; // a comment (keep-alive)
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        // `event`, `id` and `retry` carry nothing for OpenAI-style streams.
        if field == b"data" {
            let value = String::from_utf8_lossy(value);
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SseDecoder;

    fn decode_in_pieces(body: &[u8], piece: usize) -> Vec<String> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for chunk in body.chunks(piece) {
            out.extend(d.push(chunk).unwrap_or_default());
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn crlf_lf_and_cr_line_ends_and_any_split() {
        let crlf = b"data: {\"a\":1}\r\n\r\n: keep-alive\r\n\r\ndata: [DONE]\r\n\r\n";
        let lf = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        let cr = b"data: {\"a\":1}\r\rdata: [DONE]\r\r";
        for body in [&crlf[..], &lf[..], &cr[..]] {
            for piece in 1..body.len() {
                assert_eq!(
                    decode_in_pieces(body, piece),
                    ["{\"a\":1}", "[DONE]"],
                    "piece {piece} of {:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn multi_line_data_no_space_and_utf8_split() {
        let body = "data:第一\ndata: 行\nevent: x\nid: 3\n\ndata: 尾".as_bytes();
        for piece in 1..body.len() {
            assert_eq!(decode_in_pieces(body, piece), ["第一\n行", "尾"]);
        }
    }

    #[test]
    fn captured_xinference_stream() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/xinference-responses/chat_stream_response.sse");
        let Ok(body) = std::fs::read(&path) else {
            eprintln!("skip: {} not found", path.display());
            return;
        };
        let events = decode_in_pieces(&body, 7);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        assert!(events.len() > 10);
        assert!(events[..events.len() - 1]
            .iter()
            .all(|e| e.starts_with('{') && e.ends_with('}')));
    }
}
