//! Requests and answers as the routes see them, and their conversion from and
//! to hyper's types. hyper parses and writes HTTP; this module only bounds
//! what a request may bring (its body's size and how long it takes to arrive)
//! and gives every error the same JSON body.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde::Serialize;

/// A body may take this many bytes (every body the routes take is a small JSON object).
pub(crate) const MAX_BODY: usize = 64 << 10;
/// A body has this long to arrive once the headers have (hyper bounds the headers).
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request, once its headers passed the checks and its body was read.
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
    /// Ask for a bearer token (`WWW-Authenticate`, for 401).
    pub challenge: bool,
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
                Response { status, content_type: "application/json", allow: None, challenge: false, body }
            }
            Err(e) => Response::error(500, format!("cannot write the answer as JSON: {e}")),
        }
    }

    /// `{"error": message}`.
    pub fn error(status: u16, message: impl AsRef<str>) -> Response {
        let mut body = serde_json::to_vec(&ErrorBody { error: message.as_ref() }).unwrap_or_else(|_| b"{}".to_vec());
        body.push(b'\n');
        Response { status, content_type: "application/json", allow: None, challenge: false, body }
    }

    /// Plain text.
    pub fn text(status: u16, content_type: &'static str, body: String) -> Response {
        Response { status, content_type, allow: None, challenge: false, body: body.into_bytes() }
    }

    /// The answer as hyper sends it (it adds `Content-Length`, `Date` and,
    /// since every connection serves one request, `Connection: close`).
    pub fn into_hyper(self) -> hyper::Response<Full<Bytes>> {
        let mut r = hyper::Response::new(Full::new(Bytes::from(self.body)));
        *r.status_mut() = hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = r.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        if self.challenge {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // The page loads only what the endpoint itself serves, and no other
        // site may frame it.
        headers.insert(
            hyper::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        );
        headers.insert(hyper::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        r
    }
}

/// The routes' view of a request whose headers are `parts` and whose body is `body`.
pub(crate) fn request(parts: &hyper::http::request::Parts, body: Vec<u8>) -> Request {
    let query = parts.uri.query().unwrap_or("");
    Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
        body,
    }
}

/// Reads a body of at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`]; what
/// cannot be read becomes the answer (413, 408 or 400).
pub(crate) async fn read_body(headers: &hyper::HeaderMap, body: Incoming) -> Result<Vec<u8>, Response> {
    let too_large = |n: &dyn std::fmt::Display| Response::error(413, format!("the body has {n} bytes; at most {MAX_BODY} are taken"));
    if let Some(length) = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()) {
        if length > MAX_BODY as u64 {
            return Err(too_large(&length));
        }
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Err(_) => Err(Response::error(408, format!("the body did not arrive within {BODY_TIMEOUT:?}"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(&format!("more than {MAX_BODY}"))),
        Ok(Err(e)) => Err(Response::error(400, format!("reading the request body: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn converts_requests_and_answers() {
        let (parts, ()) = hyper::Request::post("/checkpoints?full=true&x=a%20b").body(()).unwrap().into_parts();
        let r = request(&parts, b"{}".to_vec());
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/checkpoints");
        assert_eq!(r.query, vec![("full".into(), "true".into()), ("x".into(), "a b".into())]);
        assert_eq!(r.body, b"{}");

        let mut answer = Response::error(405, "no");
        answer.allow = Some("GET");
        answer.challenge = true;
        let h = answer.into_hyper();
        assert_eq!(h.status(), 405);
        assert_eq!(h.headers()[ALLOW], "GET");
        assert_eq!(h.headers()[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(h.headers()[CONTENT_TYPE], "application/json");
        let body = futures::executor::block_on(h.into_body().collect()).unwrap().to_bytes();
        assert_eq!(&body[..], b"{\"error\":\"no\"}\n");
    }
}
