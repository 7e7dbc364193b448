//! Salesforce-shaped REST errors: an HTTP status and `[{"message","errorCode","fields"}]`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error a REST call answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<String>,
}

impl RestError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn on_fields(mut self, fields: &[&str]) -> Self {
        self.fields = fields.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    /// A write the storage did not take: 503 `SERVER_UNAVAILABLE` when it may succeed later (a
    /// cluster without quorum), 500 otherwise. `what` says what was being stored.
    pub fn storage(what: &str, error: &bayou_log::LogError) -> Self {
        match error {
            bayou_log::LogError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_UNAVAILABLE",
                format!("{what} could not be stored, try again later: {error}"),
            ),
            _ => Self::internal(format!("{what} could not be stored: {error}")),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            message,
        )
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body =
            json!([{"message": self.message, "errorCode": self.code, "fields": self.fields}]);
        (self.status, Json(body)).into_response()
    }
}
