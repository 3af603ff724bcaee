//! HTTP requests and responses as plain data, and the CORS policy (OPERATIONS §2).

use bytes::Bytes;

use crate::metrics::HostReport;

/// An HTTP request the shell read (anything but a WebSocket upgrade on `/v2/ws`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpRequest {
    /// Caller's id for matching the response.
    pub id: u64,
    /// Method, uppercase (`GET`, `HEAD`, `OPTIONS`, …).
    pub method: String,
    /// Request target: path and optional query.
    pub target: String,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The host's own figures for the metrics endpoints (zero when it measures none).
    /// Boxed: a histogram would make every event large.
    pub host: Box<HostReport>,
}

impl HttpRequest {
    /// A `GET` with no headers.
    pub fn get(id: u64, target: &str) -> HttpRequest {
        HttpRequest {
            id,
            method: "GET".to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            host: Box::default(),
        }
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// An HTTP response. For `HEAD` requests the transport sends the headers only (with the
/// body's length as `Content-Length`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The request's id.
    pub id: u64,
    /// Status code.
    pub status: u16,
    /// Headers in output order (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

/// Which origins get CORS headers (`security.cors_origins`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsPolicy {
    /// `*`: every response allows any origin.
    Permissive,
    /// Only these exact origins.
    List(Vec<String>),
}

impl CorsPolicy {
    /// Parses `*` or a comma-separated list of origins (`scheme://host[:port]`). The error
    /// is the first entry that is not an origin.
    pub fn parse(text: &str) -> Result<CorsPolicy, String> {
        let trimmed = text.trim();
        if trimmed == "*" {
            return Ok(CorsPolicy::Permissive);
        }
        let mut origins = Vec::new();
        for entry in trimmed.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !is_origin(entry) {
                return Err(entry.to_owned());
            }
            origins.push(entry.to_owned());
        }
        if origins.is_empty() {
            return Err(text.to_owned());
        }
        Ok(CorsPolicy::List(origins))
    }

    /// Headers to add to a response for a request with this `Origin`.
    pub fn headers_for(&self, origin: Option<&str>) -> Vec<(String, String)> {
        match self {
            CorsPolicy::Permissive => vec![
                ("access-control-allow-origin".to_owned(), "*".to_owned()),
                ("access-control-expose-headers".to_owned(), "*".to_owned()),
            ],
            CorsPolicy::List(origins) => {
                let mut headers = Vec::new();
                if let Some(origin) = origin.filter(|o| origins.iter().any(|a| a == o)) {
                    headers.push(("access-control-allow-origin".to_owned(), origin.to_owned()));
                }
                headers.push((
                    "vary".to_owned(),
                    "origin, access-control-request-method, access-control-request-headers".to_owned(),
                ));
                headers
            }
        }
    }
}

fn is_origin(entry: &str) -> bool {
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    scheme_ok && host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_star_and_lists() {
        assert_eq!(CorsPolicy::parse(" * "), Ok(CorsPolicy::Permissive));
        assert_eq!(
            CorsPolicy::parse("http://localhost:3000, https://game.example"),
            Ok(CorsPolicy::List(vec!["http://localhost:3000".into(), "https://game.example".into()]))
        );
        assert_eq!(CorsPolicy::parse("http://a.example,nope"), Err("nope".into()));
        assert_eq!(CorsPolicy::parse("http://a.example:99999"), Err("http://a.example:99999".into()));
        assert!(CorsPolicy::parse(",").is_err());
    }

    #[test]
    fn list_echoes_matching_origin_only() {
        let policy = CorsPolicy::parse("http://a.example").unwrap();
        let hit = policy.headers_for(Some("http://a.example"));
        assert_eq!(hit[0], ("access-control-allow-origin".into(), "http://a.example".into()));
        let miss = policy.headers_for(Some("http://b.example"));
        assert_eq!(miss.len(), 1);
        assert_eq!(miss[0].0, "vary");
    }

    #[test]
    fn path_and_query_split() {
        let r = HttpRequest::get(1, "/metrics?includeSnapshot=true");
        assert_eq!(r.path(), "/metrics");
        assert_eq!(r.query(), Some("includeSnapshot=true"));
    }
}
