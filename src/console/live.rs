//! `/cases/{id}/live`: server-sent events fed by `WatchCase` (the node's one live tail), as
//! the signed-in person: one `recorded` event per new event of the case (redacted ones too,
//! without their content), and a comment every 15 s to keep proxies from closing the stream.
//! The page's script then fetches the case page again and swaps the parts that changed; the
//! stream ends when the server stops.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;

use super::Console;
use crate::pb::{self, cases_server::Cases};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The event stream of one case, from `?from=VERSION` (the version the page shows).
pub(super) async fn events(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let Ok(session) = c.session(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // A reconnecting browser says which event it saw last.
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or_else(|| q.iter().find(|(k, _)| k == "from").map(|(_, v)| v.as_str()))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let req = session.request(pb::WatchCaseRequest {
        case_id: id,
        from_version: from.saturating_add(1),
    });
    let watch = match c.cases.watch_case(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => return (super::http_status(s.code()), s.message().to_owned()).into_response(),
    };
    let stream = futures_util::stream::unfold(watch, |mut watch| async move {
        let chunk = tokio::select! {
            next = watch.next() => match next {
                Some(Ok(e)) => format!(
                    "event: recorded\nid: {}\ndata: {}\n\n",
                    e.version, e.version
                ),
                // The stream failed or ended (the server stops): end the response.
                Some(Err(_)) | None => return None,
            },
            () = tokio::time::sleep(KEEP_ALIVE) => ": keep-alive\n\n".to_owned(),
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), watch))
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
