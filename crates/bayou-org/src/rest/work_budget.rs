//! Bounded work per step for requests that go through many records (SOQL queries): after every
//! [`STEP_BYTES`] of records read, the request gives its worker thread back to the runtime, so
//! a few queries over large records cannot keep `/healthz`, logins or streaming waiting; and
//! their reply, which can be megabytes of JSON, is encoded on the blocking pool.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::errors::RestError;

/// Record bytes a request handles between two yields.
const STEP_BYTES: usize = 256 * 1024;

/// Counts the record bytes a request handled since it last yielded.
#[derive(Debug, Default)]
pub struct WorkBudget {
    since_yield: usize,
}

impl WorkBudget {
    /// Counts `bytes` of work; yields to the runtime once a step's worth has been done.
    pub async fn spend(&mut self, bytes: usize) {
        self.since_yield += bytes;
        if self.since_yield >= STEP_BYTES {
            self.since_yield = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// `body` as a JSON response, encoded off the async workers.
pub async fn json_reply(body: Value) -> Response {
    match tokio::task::spawn_blocking(move || serde_json::to_vec(&body)).await {
        Ok(Ok(bytes)) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Ok(Err(e)) => RestError::internal(e.to_string()).into_response(),
        Err(e) => RestError::internal(e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn yields_once_a_step_of_work_is_done() {
        // On a one-thread runtime another task runs only when this one yields.
        let other = tokio::spawn(async {});
        let mut budget = WorkBudget::default();
        budget.spend(STEP_BYTES - 1).await;
        assert!(!other.is_finished(), "yielded before a whole step");
        budget.spend(1).await;
        assert!(other.is_finished(), "did not yield after a whole step");
    }
}
