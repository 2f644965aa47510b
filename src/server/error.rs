//! The API's errors, shaped as the design gives them, and how axum's rejections and the
//! alert checks' refusals become them.

use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::alert::Refusal;

/// An API error as the design shapes it.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) body: Value,
    pub(super) retry_after: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({"error": {"code": code, "message": message.into()}}),
            retry_after: None,
        }
    }
}

/// The error code of an error response, for the middleware that logs refusals.
#[derive(Debug, Clone)]
pub(super) struct ErrorCode(pub String);

impl ApiError {
    pub(super) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = ErrorCode(self.code().to_owned());
        let mut response = (self.status, axum::Json(self.body)).into_response();
        response.extensions_mut().insert(code);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// A state that cannot be written is the sender's cue to retry, later: 503, never 500.
impl From<crate::state::StateError> for ApiError {
    fn from(error: crate::state::StateError) -> Self {
        tracing::error!(%error, "state error while serving a request");
        if error.is_storage_full() {
            let mut answer = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "the disk that holds the state is full; the alert may not have been queued: retry later (with the same `key`, to send it once)",
            );
            answer.retry_after = Some(30);
            return answer;
        }
        if error.is_io() {
            let mut answer = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the state cannot be written just now; the alert may not have been queued: retry later (with the same `key`, to send it once)",
            );
            answer.retry_after = Some(5);
            return answer;
        }
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", error.to_string())
    }
}

/// A JSON body axum could not take, as the API's error.
pub(super) fn rejected(rejection: &JsonRejection, limit: usize) -> ApiError {
    if timed_out(rejection) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the body stalled for {} s; send it promptly",
                super::BODY_DEADLINE.as_secs()
            ),
        );
    }
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {} KiB", limit / 1024),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_json",
            "send the alert as `Content-Type: application/json`",
        ),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed", rejection.body_text()),
    }
}

/// Whether the body stopped at the body deadline.
fn timed_out(rejection: &JsonRejection) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(rejection);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

pub(super) fn refused(refusal: &Refusal) -> ApiError {
    let status = match *refusal {
        Refusal::UnknownMentions(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut error = ApiError::new(status, refusal.code(), refusal.message());
    if let Refusal::UnknownMentions(problems) = refusal {
        error.body["error"]["mentions"] = serde_json::to_value(problems).expect("serializes");
    }
    error
}
