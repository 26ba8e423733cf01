//! Just enough HTTP/1.1 for the control endpoint: one request per
//! connection, bodies with `Content-Length`, every answer `Connection: close`.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Request line and headers may take this many bytes.
const MAX_HEAD: usize = 16 << 10;
/// A body may take this many bytes.
const MAX_BODY: usize = 64 << 10;
/// A client has this long to send its whole request.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// `name=value` pairs of the query string, percent-decoded.
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// The methods a path takes (for 405).
    pub allow: Option<&'static str>,
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl Response {
    /// `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_vec_pretty(value) {
            Ok(mut body) => {
                body.push(b'\n');
                Response { status, content_type: "application/json", allow: None, body }
            }
            Err(e) => Response::error(500, format!("cannot write the answer as JSON: {e}")),
        }
    }

    /// `{"error": message}`.
    pub fn error(status: u16, message: impl AsRef<str>) -> Response {
        let mut body = serde_json::to_vec(&ErrorBody { error: message.as_ref() }).unwrap_or_else(|_| b"{}".to_vec());
        body.push(b'\n');
        Response { status, content_type: "application/json", allow: None, body }
    }

    /// Plain text.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Response {
        Response { status, content_type, allow: None, body: body.into_bytes() }
    }

    /// Status line, headers and body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if let Some(allow) = self.allow {
            head += &format!("Allow: {allow}\r\n");
        }
        head += "\r\n";
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Reads one request; a request that cannot be served becomes the answer to send.
/// `None`: the client closed the connection without sending anything.
pub(crate) async fn read_request<S: AsyncReadExt + AsyncWrite + Unpin>(stream: &mut S) -> Result<Option<Request>, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let end = find(&buf, b"\r\n\r\n");
        if end.unwrap_or(buf.len()) > MAX_HEAD {
            return Err(Response::error(431, format!("request line and headers exceed {MAX_HEAD} bytes")));
        }
        if let Some(i) = end {
            break i;
        }
        let n = stream.read(&mut chunk).await.map_err(|e| Response::error(400, format!("reading the request: {e}")))?;
        if n == 0 {
            return if buf.is_empty() { Ok(None) } else { Err(Response::error(400, "the request ends before its headers do")) };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| Response::error(400, "the request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Response::error(400, format!("malformed request line '{request_line}'")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Response::error(505, format!("{version} is not supported: speak HTTP/1.1")));
    }
    let mut content_length = 0usize;
    let mut expect_continue = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Response::error(400, format!("malformed header line '{line}'")));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length = value.parse().map_err(|_| Response::error(400, format!("Content-Length '{value}' is not a number")))?;
            }
            "transfer-encoding" => {
                return Err(Response::error(411, "send the body with Content-Length (chunked bodies are not supported)"));
            }
            "expect" if value.eq_ignore_ascii_case("100-continue") => expect_continue = true,
            _ => {}
        }
    }
    if content_length > MAX_BODY {
        return Err(Response::error(413, format!("the body has {content_length} bytes; at most {MAX_BODY} are taken")));
    }
    let mut body = buf[head_end + 4..].to_vec();
    if body.len() < content_length && expect_continue {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
    }
    while body.len() < content_length {
        let n = stream.read(&mut chunk).await.map_err(|e| Response::error(400, format!("reading the request body: {e}")))?;
        if n == 0 {
            return Err(Response::error(400, format!("the body ends after {} of its {content_length} bytes", body.len())));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Ok(Some(Request { method: method.to_string(), path: percent_decode(path), query, body }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `response` and closes the sending side.
pub(crate) async fn write_response<S: AsyncWrite + Unpin>(stream: &mut S, response: &Response) -> std::io::Result<()> {
    stream.write_all(&response.to_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    async fn parse(raw: &[u8]) -> Result<Option<Request>, Response> {
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        client.write_all(raw).await.unwrap();
        drop(client);
        read_request(&mut server).await
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn parses_a_request_with_query_and_body() {
        let raw = b"POST /checkpoints?full=true&x=a%20b HTTP/1.1\r\nHost: x\r\ncontent-length: 4\r\n\r\n{}\r\nextra";
        let r = block_on(parse(raw)).unwrap().unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/checkpoints");
        assert_eq!(r.query, vec![("full".into(), "true".into()), ("x".into(), "a b".into())]);
        assert_eq!(r.body, b"{}\r\n");
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        assert_eq!(block_on(parse(b"")).unwrap(), None);
        assert_eq!(block_on(parse(b"GET / HTTP/1.1\r\n")).unwrap_err().status, 400);
        assert_eq!(block_on(parse(b"GET /\r\n\r\n")).unwrap_err().status, 400);
        assert_eq!(block_on(parse(b"GET / HTTP/2\r\n\r\n")).unwrap_err().status, 505);
        assert_eq!(block_on(parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")).unwrap_err().status, 411);
        assert_eq!(block_on(parse(b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n")).unwrap_err().status, 413);
        assert_eq!(block_on(parse(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")).unwrap_err().status, 400);
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(block_on(parse(huge.as_bytes())).unwrap_err().status, 431);
    }

    #[test]
    fn writes_a_response() {
        let mut r = Response::error(405, "no");
        r.allow = Some("GET");
        let text = String::from_utf8(r.to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{text}");
        assert!(text.contains("Allow: GET\r\n") && text.contains("Connection: close\r\n") && text.contains("Content-Length: 15\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"error\":\"no\"}\n"), "{text}");
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%2Fb+c%"), "a/b c%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
