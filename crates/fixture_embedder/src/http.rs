//! Minimal HTTP/1.1 server side: enough for ureq, curl and benchmark clients
//! (Content-Length and chunked request bodies, keep-alive, Expect: 100-continue).

use std::io::{self, BufRead, Read, Write};

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type: "application/json; charset=utf-8",
            body,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    /// Ollama-style error: `{"error": "message"}`.
    pub fn ollama_error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message }).to_string();
        Response::json(status, body.into_bytes())
    }

    /// OpenAI-style error: `{"error": {"message": ..., "type": ...}}`.
    pub fn openai_error(status: u16, message: &str, kind: &str) -> Self {
        let body = serde_json::json!({
            "error": { "message": message, "type": kind, "param": null, "code": null }
        })
        .to_string();
        Response::json(status, body.into_bytes())
    }
}

pub(crate) enum ReadError {
    /// Clean end of stream between requests.
    Closed,
    Io,
    /// Malformed request: answer 400 and close.
    Bad(&'static str),
    TooLarge,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = r
        .by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(ReadError::TooLarge);
    }
    *budget -= n;
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ReadError::Bad("header is not UTF-8"))
}

/// Reads one request. `w` is used only for `100 Continue`.
pub(crate) fn read_request(r: &mut impl BufRead, w: &mut impl Write) -> Result<Request, ReadError> {
    let mut budget = MAX_HEADER_BYTES;
    // Tolerate stray blank lines between requests (RFC 9112 §2.2).
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Err(ReadError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t, v),
        _ => return Err(ReadError::Bad("malformed request line")),
    };
    let path = target.split('?').next().unwrap_or(target).to_string();
    let http11 = version.eq_ignore_ascii_case("HTTP/1.1");

    let mut headers = Vec::new();
    loop {
        let l = read_line(r, &mut budget)?.ok_or(ReadError::Io)?;
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or(ReadError::Bad("malformed header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
        keep_alive: http11,
    };
    if let Some(c) = req.header("connection") {
        let c = c.to_ascii_lowercase();
        if c.contains("close") {
            req.keep_alive = false;
        } else if c.contains("keep-alive") {
            req.keep_alive = true;
        }
    }
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        req.body = read_chunked(r)?;
    } else if let Some(cl) = req.header("content-length") {
        let len: usize = cl
            .parse()
            .map_err(|_| ReadError::Bad("bad Content-Length"))?;
        if len > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge);
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(req)
}

fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(r, &mut budget)?.ok_or(ReadError::Io)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_hex, 16).map_err(|_| ReadError::Bad("bad chunk size"))?;
        if size == 0 {
            // Skip trailers up to the blank line.
            let mut budget = MAX_HEADER_BYTES;
            while let Some(l) = read_line(r, &mut budget)? {
                if l.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Writes the whole response with a single write (latency with Nagle off).
pub(crate) fn write_response(
    w: &mut impl Write,
    resp: &Response,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(resp.body.len() + 160);
    write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    )?;
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(raw: &str) -> Result<Request, ReadError> {
        let mut r = Cursor::new(raw.as_bytes().to_vec());
        let mut w = Vec::new();
        read_request(&mut r, &mut w)
    }

    #[test]
    fn content_length_and_keep_alive() {
        let Ok(req) =
            parse("POST /api/embed?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcdEXTRA")
        else {
            panic!("parse failed")
        };
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/api/embed");
        assert_eq!(req.body, b"abcd");
        assert!(req.keep_alive);
    }

    #[test]
    fn connection_close_and_http10() {
        let Ok(a) = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") else {
            panic!()
        };
        assert!(!a.keep_alive);
        let Ok(b) = parse("GET / HTTP/1.0\r\n\r\n") else {
            panic!()
        };
        assert!(!b.keep_alive);
        let Ok(c) = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") else {
            panic!()
        };
        assert!(c.keep_alive);
    }

    #[test]
    fn chunked_body() {
        let Ok(req) = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n") else {
            panic!()
        };
        assert_eq!(req.body, b"abcde");
    }

    #[test]
    fn expect_continue_is_answered() {
        let mut r = Cursor::new(
            b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx".to_vec(),
        );
        let mut w = Vec::new();
        assert!(read_request(&mut r, &mut w).is_ok());
        assert!(w.starts_with(b"HTTP/1.1 100 Continue"));
    }

    #[test]
    fn eof_and_garbage() {
        assert!(matches!(parse(""), Err(ReadError::Closed)));
        assert!(matches!(parse("NONSENSE\r\n\r\n"), Err(ReadError::Bad(_))));
    }
}
