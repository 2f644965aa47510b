//! Who may call: `Authorization: Bearer <token>`, compared in constant time. The console
//! page, for a browser, also takes HTTP Basic with the token as the password (any user
//! name), and asks for it.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, Shared};
use crate::secrets::Secret;

pub(super) async fn authorize(State(state): State<Shared>, request: Request, next: Next) -> Response {
    // The admin route checks its own token, apart from the alert token.
    let open = matches!(request.uri().path(), "/healthz" | "/readyz" | "/v1/admin/run");
    let Some(token) = state.api_token.as_ref().filter(|_| !open) else {
        return next.run(request).await;
    };
    let console = is_console(request.uri().path());
    if bearer_matches(request.headers(), token) || (console && basic_matches(request.headers(), token)) {
        next.run(request).await
    } else if console {
        let page = (
            StatusCode::UNAUTHORIZED,
            "The hookwarden console needs the API token: sign in with any user name and the token as the password.\n",
        );
        challenge(
            page.into_response(),
            "Basic realm=\"hookwarden\", charset=\"UTF-8\"",
        )
    } else {
        let error = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong `Authorization: Bearer` token",
        );
        challenge(error.into_response(), "Bearer")
    }
}

/// A 401 that says how to authenticate.
fn challenge(mut response: Response, scheme: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(scheme));
    response
}

fn is_console(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

/// `Authorization: Basic base64(user:token)`, any user, the token in constant time.
fn basic_matches(headers: &axum::http::HeaderMap, token: &Secret) -> bool {
    use base64::Engine as _;
    let decoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .map(zeroize::Zeroizing::new);
    let password = decoded
        .as_deref()
        .and_then(|bytes| bytes.iter().position(|b| *b == b':').map(|at| &bytes[at + 1..]))
        .unwrap_or_default();
    bool::from(password.ct_eq(token.expose().as_bytes()))
}

/// `Authorization: Bearer <token>`: the scheme in any case, as RFC 9110 has it; the
/// token exactly (its file was trimmed once, when read), in constant time.
pub(super) fn bearer_matches(headers: &axum::http::HeaderMap, token: &Secret) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map_or("", |(_, token)| token);
    bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()))
}
