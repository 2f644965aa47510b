//! Every request counted by route and status, and every refused one logged at warn
//! (method, route, status, error code; never the body), whoever refused it (the token
//! check, the body limit, the handler): a sender's misconfiguration shows here, not
//! only in the sender's own logs.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Shared;
use super::error::ErrorCode;
use crate::metrics::{RefusedLabels, RequestLabels};

pub(super) async fn observe(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    // The route's pattern, never the path: label values stay few.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.clone(),
            status: status.as_u16().to_string(),
        })
        .inc();
    if status.is_client_error() || status.is_server_error() {
        let code = response
            .extensions()
            .get::<ErrorCode>()
            .map_or_else(|| status.as_u16().to_string(), |c| c.0.clone());
        tracing::warn!(%method, %route, status = status.as_u16(), %code, "refused a request");
        state
            .metrics
            .refused
            .get_or_create(&RefusedLabels { route, code })
            .inc();
    }
    response
}
