//! The methods a route can have: those of an OpenAPI path item.

/// An HTTP method a route can have (those of an OpenAPI path item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Options,
    Head,
    Patch,
    Trace,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
        }
    }

    pub fn from_http(method: &http::Method) -> Option<Method> {
        Some(match *method {
            http::Method::GET => Method::Get,
            http::Method::PUT => Method::Put,
            http::Method::POST => Method::Post,
            http::Method::DELETE => Method::Delete,
            http::Method::OPTIONS => Method::Options,
            http::Method::HEAD => Method::Head,
            http::Method::PATCH => Method::Patch,
            http::Method::TRACE => Method::Trace,
            _ => return None,
        })
    }
}
