//! The console's pages, embedded in the binary from `web/` (its `dev/`
//! tools left out): no build step, nothing fetched from elsewhere. Each
//! file goes out with its type, `no-cache` and an ETag, so an upgraded
//! engine never serves a stale console.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "dev/*"]
#[exclude = "README.md"]
struct Web;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The file at `path` (`""`: the login page), or None.
pub(crate) fn file(path: &str, headers: &HeaderMap) -> Option<Response> {
    let path = path.trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let f = Web::get(&path)?;
    let etag = format!("\"{}\"", hex(&f.metadata.sha256_hash()[..12]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(&path))],
            f.data.into_owned(),
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Some(res)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_are_embedded_with_their_types_and_the_dev_tools_are_not() {
        let none = HeaderMap::new();
        let index = file("/", &none).expect("index");
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let js = file("/js/api.js", &none).expect("a module");
        assert_eq!(
            js.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(file("/i18n/id.json", &none).is_some());
        assert!(file("/dev/mock_server.py", &none).is_none());
        assert!(file("/README.md", &none).is_none());
        assert!(file("/../Cargo.toml", &none).is_none());
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, js.headers()[header::ETAG].clone());
        let cached = file("/js/api.js", &again).unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    }
}
