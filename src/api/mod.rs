//! JSON APIs: the management API `/api` on the root host (this file's `manage` router);
//! the per-wiki `/api/v1` comes with the REST issue. Errors are JSON with a stable code:
//! `{"error": {"code": "not_found", "message": "…"}}`.

pub mod manage;
pub mod v1;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};

use crate::error::Error;

/// An error as an API response.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        e.log();
        let body = serde_json::json!({"error": {"code": e.code(), "message": e.public_message()}});
        let mut r = (e.status(), Json(body)).into_response();
        match e {
            Error::Unauthorized => {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::RateLimited { retry_after_secs } => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
