//! The one error of the node's HTTP surfaces: a status that says whose fault
//! it is, a stable [`ErrorCode`] and a message for people. Internal details
//! are logged, never sent.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fundsync_protocol::{ErrorBody, ErrorCode};

use crate::ledger::replica::ReplicaError;
use crate::ledger::LedgerError;

/// A refusal: answered as `status` with `{"error": code, "message": text}`
/// (the pages show it as an error page instead).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// `what` is not here (404).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    /// This node failed; the cause is in its log (500).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; see the node's log",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The body as it is sent.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code,
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        (self.status, axum::Json(body)).into_response()
    }
}

/// A refusal of the local API's caller: bad input 400, a clash with what is
/// recorded 409, a broken rule 422; the node's own failures 500.
impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        use LedgerError::*;
        let status = match &e {
            Body(_) => StatusCode::BAD_REQUEST,
            CategoryExists(_)
            | NodeExists(_)
            | Conflict { .. }
            | DuplicateVoucher(_)
            | AlreadyReversed(_) => StatusCode::CONFLICT,
            Store(_) | WrongNode { .. } | NotInitialised => {
                tracing::error!(error = %e, "ledger failure");
                return ApiError::internal();
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// A refusal of a peer's batch or request: the status says what the peer
/// should do (409: ask where this node stands and send again; 413: send
/// less; 403: never from this peer; 422: the data is wrong).
impl From<ReplicaError> for ApiError {
    fn from(e: ReplicaError) -> Self {
        if !e.is_peer_fault() {
            tracing::error!(error = %e, "sync failure");
            return ApiError::internal();
        }
        let code = e.code();
        let status = match code {
            ErrorCode::Gap | ErrorCode::Fork | ErrorCode::StreamAhead | ErrorCode::NotYetHeld => {
                StatusCode::CONFLICT
            }
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::WrongSender | ErrorCode::OriginNotAllowed | ErrorCode::Misaddressed => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                status,
                ErrorCode::PayloadTooLarge,
                "request body is too large",
            );
        }
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            return ApiError::new(
                status,
                ErrorCode::UnsupportedMediaType,
                "send JSON with Content-Type: application/json",
            );
        }
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            r.body_text(),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            r.body_text(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_told_what_to_do_and_never_why_this_node_failed() {
        let gap = ReplicaError::StreamAhead { after: 5, have: 3 };
        let e = ApiError::from(gap);
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::CONFLICT, ErrorCode::StreamAhead)
        );
        let e = ApiError::from(ReplicaError::Ledger(LedgerError::Store(
            crate::store::StoreError::Corrupt("secret detail".into()),
        )));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), ErrorCode::Internal);
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn the_api_says_whose_fault_it_is() {
        let e = ApiError::from(LedgerError::DuplicateVoucher("V1".into()));
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::CONFLICT, ErrorCode::DuplicateVoucher)
        );
        let e = ApiError::from(LedgerError::NotTopNode);
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e = ApiError::from(LedgerError::NotInitialised);
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
        );
    }
}
