//! `POST /v1/admin/run`: a command run for another process with the daemon's state and
//! identity (see [`crate::remote`]).

use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::bearer_matches;
use super::{ApiError, Shared};
use crate::remote::{Request, Response as Ran};
use crate::secrets::Secret;

/// Runs a forwarded command: what the daemon was handed to run for others.
pub type RunCommand = Arc<dyn Fn(Request) -> Ran + Send + Sync>;

/// Running commands for others.
#[derive(Clone)]
pub struct AdminAccess {
    /// Required as `Authorization: Bearer`; `None` on the admin socket, whose file mode
    /// is the guard.
    pub token: Option<Secret>,
    pub run: RunCommand,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccess")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

pub(super) async fn run(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<axum::Json<Request>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Some(access) = state.admin.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "remote admin is off: set HOOKWARDEN_ADMIN_TOKEN_FILE",
        ));
    };
    if let Some(token) = &access.token
        && !bearer_matches(&headers, token)
    {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin token",
        ));
    }
    let axum::Json(request) =
        body.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, "malformed", rejection.body_text()))?;
    let response = tokio::task::spawn_blocking(move || (access.run)(request))
        .await
        .expect("the admin task does not panic");
    Ok(axum::Json(response).into_response())
}
