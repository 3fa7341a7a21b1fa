//! The domain error: what went wrong, independent of transport. Web handlers render it as
//! an HTML page, the APIs as JSON, MCP as tool text; each keeps the status it names.
//! Internal errors keep their detail for the log and show the client a generic line.

use axum::http::StatusCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: input that can never be valid (a page name with `..`, a malformed field).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials, or credentials that are not valid.
    #[error("authentication required")]
    Unauthorized,
    /// 403: a known principal without the right for this action.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 404: the wiki an operation names does not exist (as opposed to something in it).
    #[error("{0}")]
    UnknownWiki(String),
    /// 409: a stale revision or an existing target. `current` is the revision to re-read.
    #[error("{message}")]
    Conflict {
        message: String,
        current: Option<String>,
    },
    /// 413: a page, attachment, quota or page-count limit.
    #[error("{0}")]
    TooLarge(String),
    /// 403: a limit of the account or wiki that no role lifts (collaborators per wiki).
    #[error("{0}")]
    LimitReached(String),
    /// 422: well-formed input the operation cannot accept.
    #[error("{0}")]
    Invalid(String),
    /// 429.
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a part of the service that is switched off or not ready (semantic search
    /// without its model).
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged in full, shown as a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::LimitReached(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) | Error::UnknownWiki(_) => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message safe to show a client.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "Internal server error".into(),
            other => other.to_string(),
        }
    }

    /// A stable machine-readable code for JSON errors.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) | Error::UnknownWiki(_) => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::TooLarge(_) => "too_large",
            Error::LimitReached(_) => "limit_reached",
            Error::Invalid(_) => "invalid",
            Error::RateLimited { .. } => "rate_limited",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// Logs internal errors with their full chain; other errors are the client's business.
    pub fn log(&self) {
        if let Error::Internal(e) = self {
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database pool"))
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("git"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("io"))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}
