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
            | AlreadyReversed(_)
            | TargetNotPending { .. }
            | AlreadyApproved { .. } => StatusCode::CONFLICT,
            Restored(_) => StatusCode::SERVICE_UNAVAILABLE,
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

/// The code a refusal of `status` gets when the framework, not a handler,
/// made it (see [`json_errors`]).
pub fn code_for_status(status: StatusCode) -> ErrorCode {
    ErrorCode::of_status(status.as_u16())
}

/// Longest framework message kept as the `message` of a rewritten refusal.
const FRAMEWORK_MESSAGE_BYTES_MAX: usize = 1024;

/// Makes every refusal on a listener the `{error, message}` body, whoever
/// made it: axum's own answers (405 with an empty body, 404 of a router
/// without a fallback, the 413/400/415/422 texts of its `Bytes`, `Form`,
/// `Path`, `Multipart` and `Json` rejections) come as `text/plain` or with
/// no body at all, and are rewritten here with a code from their status
/// ([`code_for_status`]) and their text as the message (a server error's
/// text is not sent). Answers with a content type of their own (JSON, the
/// pages' HTML) pass unchanged, as does every success.
///
/// Refusals hyper makes before a request reaches any service (a URI over
/// 64 KiB, headers over its buffer, a request line it cannot parse) are
/// rewritten on the connection (`crate::net`).
pub async fn json_errors(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let plain = match res.headers().get(axum::http::header::CONTENT_TYPE) {
        None => true,
        Some(ct) => ct
            .to_str()
            .map(|ct| ct.starts_with("text/plain"))
            .unwrap_or(false),
    };
    if !plain {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, FRAMEWORK_MESSAGE_BYTES_MAX)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    let code = code_for_status(status);
    let message = if status.is_server_error() {
        if !text.is_empty() {
            tracing::error!(%status, text, "a framework error");
        }
        ApiError::internal().message
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = parts
            .headers
            .get(axum::http::header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if allow.is_empty() {
            "this path does not take this method".to_owned()
        } else {
            format!("this path does not take this method; it takes {allow}")
        }
    } else if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("refused")
            .to_ascii_lowercase()
    } else {
        text
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let json = ApiError::new(status, code, message).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rewritten(res: Response) -> (StatusCode, String, serde_json::Value) {
        let res = json_errors(res).await;
        let status = res.status();
        let ct = res
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (
            status,
            ct,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn framework_refusals_become_the_error_body() {
        // axum's 405: empty, with Allow.
        let res = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(axum::http::header::ALLOW, "GET,HEAD")
            .body(axum::body::Body::empty())
            .unwrap_or_default();
        let (s, ct, v) = rewritten(res).await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, "application/json")
        );
        assert_eq!(v["error"], "method_not_allowed");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or_default()
                .contains("GET,HEAD"),
            "{v}"
        );
        // A rejection's text is the message.
        let res = (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        )
            .into_response();
        let (s, _, v) = rewritten(res).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(v["error"], "payload_too_large");
        assert!(v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("length limit"));
        // A server error's text stays in the log.
        let res = (StatusCode::INTERNAL_SERVER_ERROR, "secret detail").into_response();
        let (_, _, v) = rewritten(res).await;
        assert_eq!(v["error"], "internal");
        assert!(!v.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn answers_with_a_type_of_their_own_pass_unchanged() {
        let page = (
            StatusCode::FORBIDDEN,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<p>无权限</p>",
        )
            .into_response();
        let (s, ct, _) = rewritten(page).await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::FORBIDDEN, "text/html; charset=utf-8")
        );
        let ok = (StatusCode::OK, "ready").into_response();
        let (s, ct, _) = rewritten(ok).await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::OK, "text/plain; charset=utf-8")
        );
    }

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
