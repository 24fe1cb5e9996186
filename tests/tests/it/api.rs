//! The HTTP API of a real node on port 0: every kind of bad input gets a
//! JSON error with the right status and leaves the ledger unchanged.

use anyhow::{ensure, Result};
use fundsync_tests::fixtures::{prefecture, Engine, TestNode};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

struct Api {
    node: TestNode,
    http: Client,
}

impl Api {
    async fn start() -> Result<Api> {
        let node = TestNode::start(&prefecture()).await?;
        Ok(Api {
            http: node.http(),
            node,
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(self.node.url(path))
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        crate::openapi::check("post", path, Some(&body), status, &v)?;
        Ok((status, v))
    }

    async fn post_raw(&self, path: &str, ct: &str, body: Vec<u8>) -> Result<(StatusCode, Value)> {
        let r = self
            .http
            .post(self.node.url(path))
            .header("content-type", ct)
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        crate::openapi::check("post", path, None, status, &v)?;
        Ok((status, v))
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Value)> {
        let r = self.http.get(self.node.url(path)).send().await?;
        let status = r.status();
        let v: Value = r.json().await?;
        crate::openapi::check("get", path, None, status, &v)?;
        Ok((status, v))
    }

    /// The journal and master ledger, to prove a rejection changed nothing.
    async fn state(&self) -> Result<Value> {
        let (_, j) = self.get("/api/v1/journal?limit=1000").await?;
        let (_, s) = self
            .get("/api/v1/ledger/summary?as_of=2099-01-01&group_by=node,fund_category")
            .await?;
        Ok(json!([j, s]))
    }

    /// Expects `status` and error `code`, and that nothing changed.
    async fn rejects(&self, path: &str, body: Value, status: StatusCode, code: &str) -> Result<()> {
        let before = self.state().await?;
        let (s, v) = self.post(path, body.clone()).await?;
        ensure!(
            s == status && v["error"] == code,
            "{path} {body}: got {s} {v}"
        );
        ensure!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a message for people: {v}"
        );
        ensure!(
            self.state().await? == before,
            "{path} {body} changed the ledger"
        );
        Ok(())
    }
}

/// A prefecture with child 652822 and own budget 652800-2 of 1,000,000.00.
async fn setup() -> Result<Api> {
    let api = Api::start().await?;
    let (s, _) = api
        .post("/api/v1/nodes", json!({"code": "652822", "name": "轮台县"}))
        .await?;
    ensure!(s == StatusCode::CREATED);
    let (s, v) = api
        .post(
            "/api/v1/own-budgets",
            json!({"doc_no": "巴财农〔2020〕1号", "category": "X-05", "amount": "1000000.00", "budgeted_on": "2020-01-30"}),
        )
        .await?;
    ensure!(s == StatusCode::CREATED && v["id"] == "652800-2", "{v}");
    Ok(api)
}

fn alloc(amount: Value) -> Value {
    json!({"doc_no": "巴财农〔2020〕2号", "source": "652800-2", "to": "652822", "amount": amount, "issued_on": "2020-02-04"})
}

#[tokio::test]
async fn health_and_readiness() -> Result<()> {
    let api = Api::start().await?;
    let r = api.http.get(api.node.url("/healthz")).send().await?;
    ensure!(r.status() == StatusCode::OK);
    let r = api.http.get(api.node.url("/readyz")).send().await?;
    ensure!(r.status() == StatusCode::OK);
    let (s, v) = api.get("/api/v1/node").await?;
    ensure!(
        s == StatusCode::OK && v["code"] == "652800" && v["level"] == "prefecture",
        "{v}"
    );
    let (s, v) = api.get("/api/v1/nowhere").await?;
    ensure!(
        s == StatusCode::NOT_FOUND && v["error"] == "not_found",
        "{v}"
    );
    api.node.stop().await
}

#[tokio::test]
async fn allocation_created_listed_and_fetched() -> Result<()> {
    let api = setup().await?;
    let (s, v) = api
        .post("/api/v1/allocations", alloc(json!("600000.50")))
        .await?;
    ensure!(s == StatusCode::CREATED && v["created"] == true, "{s} {v}");
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    // A retry answers 200 with the same id.
    let (s, v) = api
        .post("/api/v1/allocations", alloc(json!("600000.50")))
        .await?;
    ensure!(
        s == StatusCode::OK && v["id"] == id.as_str() && v["created"] == false,
        "{s} {v}"
    );
    let (s, v) = api.get(&format!("/api/v1/allocations/{id}")).await?;
    ensure!(
        s == StatusCode::OK && v["amount"] == "600000.50" && v["category"] == "X-05",
        "{v}"
    );
    let (_, v) = api.get("/api/v1/allocations?holder=652822").await?;
    ensure!(v["items"].as_array().map(Vec::len) == Some(1), "{v}");
    let (_, v) = api
        .get("/api/v1/ledger/summary?as_of=2020-12-31&group_by=node")
        .await?;
    ensure!(v["total"]["balance"] == "1000000.00", "{v}");
    api.node.stop().await
}

#[tokio::test]
async fn bad_amounts_are_refused() -> Result<()> {
    let api = setup().await?;
    let path = "/api/v1/allocations";
    for bad in [
        json!("-5.00"),
        json!("0"),
        json!("0.001"),
        json!("1e3"),
        json!("12,000"),
        json!("99999999999999999999999999999"),
        json!(5.5),
        json!(null),
    ] {
        api.rejects(path, alloc(bad), StatusCode::BAD_REQUEST, "invalid_json")
            .await?;
    }
    // Over what the source has left.
    api.rejects(
        path,
        alloc(json!("1000000.01")),
        StatusCode::UNPROCESSABLE_ENTITY,
        "over_allocation",
    )
    .await?;
    api.node.stop().await
}

#[tokio::test]
async fn rule_violations_are_refused() -> Result<()> {
    let api = setup().await?;
    let mut to_stranger = alloc(json!("1.00"));
    to_stranger["to"] = json!("653101");
    api.rejects(
        "/api/v1/allocations",
        to_stranger,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_child",
    )
    .await?;
    let mut unknown_source = alloc(json!("1.00"));
    unknown_source["source"] = json!("652800-99");
    api.rejects(
        "/api/v1/allocations",
        unknown_source,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_allocation",
    )
    .await?;
    api.rejects(
        "/api/v1/own-budgets",
        json!({"doc_no": "d", "category": "NOPE", "amount": "1", "budgeted_on": "2020-01-01"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_category",
    )
    .await?;
    api.rejects(
        "/api/v1/own-budgets",
        json!({"doc_no": "巴财农〔2020〕1号", "category": "X-05", "amount": "2", "budgeted_on": "2020-01-30"}),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await?;
    api.rejects(
        "/api/v1/funds-received",
        json!({"doc_no": "d", "category": "X-01", "amount": "1", "received_on": "2020-01-01"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_top_node",
    )
    .await?;
    api.rejects(
        "/api/v1/payments",
        json!({"voucher_no": "V1", "paid_on": "2020-05-01", "payer": "州财政局", "payee_name": "某公司",
               "amount": "10", "allocation": "652800-2", "project": "NOPE"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_project",
    )
    .await?;
    api.node.stop().await
}

#[tokio::test]
async fn malformed_requests_are_refused() -> Result<()> {
    let api = setup().await?;
    let before = api.state().await?;
    let path = "/api/v1/allocations";
    let (s, v) = api
        .post_raw(path, "application/json", b"{\"doc_no\": ".to_vec())
        .await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_json",
        "{s} {v}"
    );
    let (s, v) = api
        .post_raw(path, "application/json", vec![0xff, 0xfe, 0x00])
        .await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_json",
        "{s} {v}"
    );
    let (s, v) = api.post_raw(path, "text/plain", b"{}".to_vec()).await?;
    ensure!(
        s == StatusCode::UNSUPPORTED_MEDIA_TYPE && v["error"] == "unsupported_media_type",
        "{s} {v}"
    );
    let mut extra = alloc(json!("1.00"));
    extra["approved_by"] = json!("someone");
    let (s, v) = api.post(path, extra).await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_json",
        "unknown fields refused: {s} {v}"
    );
    // Larger than the node's 64 KiB body limit.
    let mut huge = alloc(json!("1.00"));
    huge["title"] = json!("x".repeat(100 * 1024));
    let (s, v) = api.post(path, huge).await?;
    ensure!(
        s == StatusCode::PAYLOAD_TOO_LARGE && v["error"] == "payload_too_large",
        "{s} {v}"
    );
    // Over-long and control-character text.
    let mut long = alloc(json!("1.00"));
    long["title"] = json!("题".repeat(501));
    let (s, v) = api.post(path, long).await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_input",
        "{s} {v}"
    );
    let (s, v) = api.get("/api/v1/allocations/not-an-id").await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_id",
        "{s} {v}"
    );
    let (s, v) = api.get("/api/v1/allocations/652800-77").await?;
    ensure!(
        s == StatusCode::NOT_FOUND && v["error"] == "not_found",
        "{s} {v}"
    );
    let (s, v) = api.get("/api/v1/ledger/summary?group_by=colour").await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_query",
        "{s} {v}"
    );
    let (s, v) = api.get("/api/v1/ledger/summary?as_of=2020-02-30").await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_query",
        "{s} {v}"
    );
    let (s, v) = api.get("/api/v1/payments?page_size=ten").await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && v["error"] == "invalid_query",
        "{s} {v}"
    );
    ensure!(
        api.state().await? == before,
        "malformed requests changed the ledger"
    );
    api.node.stop().await
}

/// Sends `method path` with `body` of content type `ct`; returns the
/// status, the content type and the body as JSON (null if it is not).
async fn raw(
    http: &Client,
    method: reqwest::Method,
    url: &str,
    ct: Option<&str>,
    body: Vec<u8>,
) -> Result<(StatusCode, String, Value)> {
    let mut req = http.request(method, url).body(body);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let r = req.send().await?;
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = r.bytes().await?;
    Ok((
        status,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// A request and the refusal it should get: what it is, method, URL,
/// content type, body, status, error code.
type Refused = (
    &'static str,
    reqwest::Method,
    String,
    Option<&'static str>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

/// What the framework refuses before or around a handler (a body over the
/// limit read as bytes or a form, a URI too long for the HTTP layer, a
/// method a path does not take, a path nothing takes, a path parameter or
/// form that does not parse, a request line that is not HTTP) is answered
/// as every handler's refusal is: the status, `application/json`,
/// `{error, message}`; and nothing is recorded.
#[tokio::test]
async fn framework_refusals_are_the_error_body_too() -> Result<()> {
    let node = TestNode::start_with(Engine::Sqlite, &prefecture(), |c| {
        c.import_bytes_max = 64 * 1024;
    })
    .await?;
    let api = Api {
        http: node.http(),
        node,
    };
    let before = api.state().await?;
    let url = |p: &str| api.node.url(p);
    use reqwest::Method;
    let cases: Vec<Refused> = vec![
        (
            "an import over import_bytes_max",
            Method::POST,
            url("/api/v1/payments/import"),
            Some("text/csv"),
            vec![b'x'; 64 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "a method the path does not take",
            Method::DELETE,
            url("/api/v1/node"),
            None,
            Vec::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "a write method on a read-only list",
            Method::PUT,
            url("/api/v1/payments"),
            Some("application/json"),
            b"{}".to_vec(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "a path nothing takes",
            Method::POST,
            url("/api/v1/nowhere"),
            Some("application/json"),
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a path parameter that is not UTF-8",
            Method::GET,
            url("/api/v1/allocations/%FF%FE"),
            None,
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a sign-in that is not a form",
            Method::POST,
            url("/login"),
            Some("application/json"),
            b"{\"login\":\"a\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (what, method, u, ct, body, status, code) in cases {
        let (s, got_ct, v) = raw(&api.http, method, &u, ct, body).await?;
        ensure!(
            s == status && got_ct.starts_with("application/json") && v["error"] == code,
            "{what}: got {s} {got_ct} {v}, expected {status} {code}"
        );
        ensure!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: a message for people: {v}"
        );
    }
    // What no HTTP client sends, on a bare connection: a URI over the 64 KiB
    // hyper reads (no client builds one), a request line that is not HTTP.
    let long = format!(
        "GET /api/v1/node?q={} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\r\n",
        "x".repeat(70 * 1024),
        api.node.addr,
        api.node.token
    );
    for (what, request, status, code) in [
        (
            "a URI over 64 KiB",
            long.into_bytes(),
            "414",
            "uri_too_long",
        ),
        (
            "not HTTP",
            b"HELLO THERE\r\n\r\n".to_vec(),
            "400",
            "bad_request",
        ),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(api.node.addr).await?;
        tokio::io::AsyncWriteExt::write_all(&mut tcp, &request).await?;
        let mut answer = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut answer).await?;
        let answer = String::from_utf8_lossy(&answer);
        let body: Value = answer
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        ensure!(
            answer.starts_with(&format!("HTTP/1.1 {status} "))
                && answer.contains("content-type: application/json")
                && body["error"] == code
                && body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {answer}"
        );
    }
    ensure!(
        api.state().await? == before,
        "a refused request changed the ledger"
    );
    api.node.stop().await
}

#[tokio::test]
async fn csv_import_over_http() -> Result<()> {
    let api = setup().await?;
    // Project with a target, then vouchers against the prefecture's own budget.
    let (s, _) = api
        .post(
            "/api/v1/projects",
            json!({"code": "P1", "name": "州级示范项目", "starts_on": "2020-03-01", "ends_on": "2020-12-31",
                   "budget": "500000", "status": "in_progress"}),
        )
        .await?;
    ensure!(s == StatusCode::CREATED);
    let (s, v) = api
        .post(
            "/api/v1/projects/P1/targets",
            json!({"level1": "effect", "level2": "social", "indicator": "带动脱贫人口", "op": ">=", "value": "120", "unit": "人"}),
        )
        .await?;
    ensure!(s == StatusCode::CREATED, "{v}");
    let header = "voucher_no,paid_on,payer,payee_name,amount,allocation,project\n";
    let good = format!("{header}V1,2020-05-01,州财政局,甲公司,100.00,652800-2,P1\nV2,2020-05-02,州财政局,乙公司,0.50,652800-2,P1\n");
    let (s, v) = api
        .post_raw("/api/v1/payments/import", "text/csv", good.into_bytes())
        .await?;
    ensure!(s == StatusCode::OK && v["created"] == 2, "{s} {v}");
    let before = api.state().await?;
    let bad = format!("{header}V3,2020-05-01,州财政局,丙公司,7,652800-2,P1\nV4,2020-05-01,州财政局,丁公司,-7,652800-2,P1\n");
    let (s, v) = api
        .post_raw("/api/v1/payments/import", "text/csv", bad.into_bytes())
        .await?;
    ensure!(
        s == StatusCode::UNPROCESSABLE_ENTITY && v["error"] == "invalid_rows",
        "{s} {v}"
    );
    ensure!(v["rows"][0]["line"] == 3, "{v}");
    let (s, v) = api
        .post_raw(
            "/api/v1/payments/import",
            "application/json",
            b"[]".to_vec(),
        )
        .await?;
    ensure!(s == StatusCode::UNSUPPORTED_MEDIA_TYPE, "{s} {v}");
    ensure!(
        api.state().await? == before,
        "a rejected import changed the ledger"
    );
    let (_, v) = api.get("/api/v1/projects/652800/P1").await?;
    ensure!(
        v["paid"] == "100.50" && v["targets"][0]["op"] == ">=",
        "{v}"
    );
    api.node.stop().await
}
