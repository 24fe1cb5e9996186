//! The OpenAPI description (`/api/v1/openapi.json`) against the node that
//! serves it: every JSON request body and every JSON answer has a schema,
//! every `$ref` resolves, and what the tests send and the node answers
//! validates against those schemas with an independent validator (the
//! `jsonschema` crate, draft 2020-12, formats checked). `api.rs` checks
//! every body it sends and every answer it gets through [`check`], so its
//! samples, good and bad, are held to the description too.

use std::sync::OnceLock;

use anyhow::{anyhow, ensure, Result};
use fundsync_node::server::route_table;
use fundsync_tests::build;
use fundsync_tests::fixtures::{prefecture, TestNode};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The node's description, as `/api/v1/openapi.json` serves it (made from
/// the same route table).
pub fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let api: Vec<_> = route_table().into_iter().filter(|r| !r.page).collect();
        fundsync_node::openapi::document(&api)
    })
}

/// The route template of a concrete `path` (query left off) for `method`:
/// literal segments before parameters, as axum matches.
fn template(method: &str, path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let want: Vec<&str> = path.split('/').collect();
    let mut best: Option<(&'static str, usize)> = None;
    for (t, ops) in doc()["paths"].as_object()? {
        if ops.get(method).is_none() {
            continue;
        }
        let have: Vec<&str> = t.split('/').collect();
        if have.len() != want.len() {
            continue;
        }
        let mut literal = 0;
        let fits = have.iter().zip(&want).all(|(h, w)| {
            if h.starts_with('{') {
                true
            } else {
                literal += 1;
                h == w
            }
        });
        if fits && best.is_none_or(|(_, l)| literal > l) {
            best = Some((t.as_str(), literal));
        }
    }
    best.map(|(t, _)| t)
}

/// Validates `value` against `schema` (a part of the document), resolving
/// its `$ref`s within the document.
fn validate(schema: &Value, value: &Value) -> Result<()> {
    let mut root = json!({ "components": doc()["components"].clone() });
    if let (Some(r), Some(s)) = (root.as_object_mut(), schema.as_object()) {
        for (k, v) in s {
            r.insert(k.clone(), v.clone());
        }
    }
    let v = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| anyhow!("the schema {schema} does not compile: {e}"))?;
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    ensure!(errors.is_empty(), "{value} against {schema}: {errors:?}");
    Ok(())
}

fn json_schema_of(content: &Value) -> Option<&Value> {
    content.get("application/json")?.get("schema")
}

/// Checks one exchange against the description: a body the node took (2xx)
/// against the request schema, an answer against the status's schema (a
/// refusal against `Error`). Returns the answer.
pub fn check(
    method: &str,
    path: &str,
    request: Option<&Value>,
    status: StatusCode,
    answer: &Value,
) -> Result<()> {
    let method = method.to_ascii_lowercase();
    let Some(t) = template(&method, path) else {
        // No such route (404) or method (405): the one error body.
        ensure!(
            !status.is_success(),
            "{method} {path} answered {status} but is not described"
        );
        return validate(&json!({"$ref": "#/components/schemas/Error"}), answer)
            .map_err(|e| anyhow!("refusal of {method} {path}: {e}"));
    };
    let op = &doc()["paths"][t][&method];
    if let (Some(body), true) = (request, status.is_success()) {
        let schema = json_schema_of(&op["requestBody"]["content"])
            .ok_or_else(|| anyhow!("{method} {t} took a JSON body but describes none"))?;
        validate(schema, body).map_err(|e| anyhow!("request of {method} {path}: {e}"))?;
    }
    let described = match &op["responses"][status.as_str()] {
        Value::Null if !status.is_success() => &op["responses"]["default"],
        d => d,
    };
    ensure!(
        described.is_object(),
        "{method} {t} answered {status}, which it does not describe"
    );
    if let Some(schema) = json_schema_of(&described["content"]) {
        validate(schema, answer).map_err(|e| anyhow!("answer {status} of {method} {path}: {e}"))?;
    }
    Ok(())
}

/// What is counted below: every operation and its bodies.
struct Count {
    requests: usize,
    answers: usize,
}

#[test]
fn every_json_body_has_a_schema_and_every_ref_resolves() -> Result<()> {
    let d = doc();
    let mut n = Count {
        requests: 0,
        answers: 0,
    };
    let mut missing = Vec::new();
    for r in route_table().into_iter().filter(|r| !r.page) {
        let Some(b) = r.bodies else {
            missing.push(format!("{} {}: no bodies stated", r.method, r.path));
            continue;
        };
        let op = &d["paths"][&r.path][r.method.as_str().to_ascii_lowercase()];
        if let Some(m) = b.request {
            let content = &op["requestBody"]["content"];
            if m.media_type == "application/json" {
                if json_schema_of(content).is_none() {
                    missing.push(format!("{} {}: request", r.method, r.path));
                }
                n.requests += 1;
            } else {
                ensure!(content[m.media_type].is_object(), "{} {}", r.method, r.path);
            }
        } else {
            ensure!(
                op.get("requestBody").is_none(),
                "{} {} reads nothing",
                r.method,
                r.path
            );
        }
        for (status, answer) in op["responses"].as_object().into_iter().flatten() {
            for (media, c) in answer["content"].as_object().into_iter().flatten() {
                if media == "application/json" {
                    if c.get("schema").is_none() {
                        missing.push(format!("{} {}: answer {status}", r.method, r.path));
                    }
                    n.answers += 1;
                }
            }
        }
    }
    ensure!(missing.is_empty(), "without a schema: {missing:#?}");
    // Every `$ref` names a component, and every component compiles.
    let mut refs = Vec::new();
    collect_refs(d, &mut refs);
    let schemas = &d["components"]["schemas"];
    for r in &refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| anyhow!("a $ref outside the components: {r}"))?;
        ensure!(schemas.get(name).is_some(), "{r} names nothing");
        ensure!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name} is not a valid component name"
        );
    }
    for (name, s) in schemas.as_object().into_iter().flatten() {
        validate(
            &json!({"$ref": format!("#/components/schemas/{name}")}),
            &json!(null),
        )
        .map(|_| ())
        .or_else(|e| {
            if e.to_string().contains("does not compile") {
                Err(e)
            } else {
                Ok(())
            }
        })?;
        let _ = s;
    }
    // Money and dates are described as the API reads them.
    let pay = &schemas["PaymentRecorded"]["properties"];
    ensure!(
        pay["amount"]["$ref"] == "#/components/schemas/Amount",
        "{pay}"
    );
    ensure!(schemas["Amount"]["type"] == "string" && schemas["Amount"]["pattern"].is_string());
    ensure!(pay["paid_on"]["format"] == "date", "{pay}");
    println!(
        "{} operations: {} JSON request bodies, {} JSON answers described, {} named schemas, {} $refs resolved",
        route_table().iter().filter(|r| !r.page).count(),
        n.requests,
        n.answers,
        schemas.as_object().map_or(0, |m| m.len()),
        refs.len()
    );
    Ok(())
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// A decimal sent as a JSON number, an amount with three decimals, a date
/// that is not one, a field no body has: the schemas refuse what the API
/// refuses.
#[test]
fn the_schemas_refuse_what_the_api_refuses() -> Result<()> {
    let schema =
        json_schema_of(&doc()["paths"]["/api/v1/payments"]["post"]["requestBody"]["content"])
            .ok_or_else(|| anyhow!("no schema"))?
            .clone();
    let good = body_of(build::payment(
        "V-1",
        build::id("652800-2"),
        "P-1",
        "100.00",
        "2020-03-01",
    ));
    validate(&schema, &good)?;
    for (field, bad) in [
        ("amount", json!(100.5)),
        ("amount", json!("100.005")),
        ("amount", json!("1e5")),
        ("paid_on", json!("2020-02-30")),
        ("allocation", json!("652800")),
    ] {
        let mut b = good.clone();
        b[field] = bad.clone();
        ensure!(validate(&schema, &b).is_err(), "{field} = {bad} passed");
    }
    let mut b = good.clone();
    b["extra"] = json!("x");
    ensure!(validate(&schema, &b).is_err(), "an unknown field passed");
    Ok(())
}

/// The builders' category, as a prefecture's own (its origin must be the
/// node's level).
fn prefecture_category() -> Value {
    let mut c = body_of(build::county_category());
    c["code"] = json!("BZ-77");
    c["origin"] = json!("prefecture");
    c
}

/// `v` less its field `f` (a body whose route names it in the path).
fn without(mut v: Value, f: &str) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove(f);
    }
    v
}

/// The JSON inside a `Body`: the kind's struct, as the API takes it.
fn body_of(b: fundsync_protocol::Body) -> Value {
    let bytes = b.encode(&build::clerk());
    serde_json::from_slice(fundsync_protocol::body::inner_bytes(&bytes)).unwrap_or(Value::Null)
}

/// The entry bodies the tests build (`fundsync_tests::build`; funds
/// received, which only the region records, is not sent to this
/// prefecture), sent to a real node through the API routes that take them: each is taken, and
/// each request and answer validates. Then every list and detail read
/// there is validated as answered.
#[tokio::test]
async fn sample_bodies_and_answers_validate_against_the_description() -> Result<()> {
    let node = TestNode::start(&prefecture()).await?;
    let http = node.http();
    let mut checked = 0;
    let posts: Vec<(&str, Value)> = vec![
        ("/api/v1/nodes", body_of(build::child("652822", "轮台县"))),
        ("/api/v1/catalog", prefecture_category()),
        (
            "/api/v1/own-budgets",
            body_of(build::own_budget(
                "巴财农〔2020〕1号",
                "X-05",
                "1000000.00",
                "2020-01-30",
            )),
        ),
        (
            "/api/v1/allocations",
            json!({"doc_no": "巴财农〔2020〕2号", "source": "652800-3", "to": "652822", "amount": "30000.00", "issued_on": "2020-02-04"}),
        ),
        (
            "/api/v1/projects",
            body_of(build::project("P-1", "500000.00")),
        ),
        (
            "/api/v1/projects/P-1/targets",
            without(body_of(build::target("P-1")), "project"),
        ),
        (
            "/api/v1/payments",
            body_of(build::payment(
                "V-1",
                build::id("652800-3"),
                "P-1",
                "100.00",
                "2020-03-01",
            )),
        ),
        (
            "/api/v1/payments/V-1/reversal",
            json!({"reversed_on": "2020-03-02", "reason": "重复支付"}),
        ),
        (
            "/api/v1/projects/P-1/status",
            json!({"status": "in_progress"}),
        ),
    ];
    for (path, body) in &posts {
        let r = http.post(node.url(path)).json(body).send().await?;
        let status = r.status();
        let answer: Value = r.json().await?;
        ensure!(status.is_success(), "{path} {body}: {status} {answer}");
        check("post", path, Some(body), status, &answer)?;
        checked += 1;
    }
    // A refusal validates against `Error`.
    let over = json!({"doc_no": "巴财农〔2020〕3号", "source": "652800-3", "to": "652822", "amount": "999999999.00", "issued_on": "2020-02-05"});
    let r = http
        .post(node.url("/api/v1/allocations"))
        .json(&over)
        .send()
        .await?;
    let status = r.status();
    let answer: Value = r.json().await?;
    ensure!(
        status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status} {answer}"
    );
    check("post", "/api/v1/allocations", Some(&over), status, &answer)?;
    for path in [
        "/api/v1/node",
        "/api/v1/nodes",
        "/api/v1/catalog",
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/own-budgets",
        "/api/v1/allocations",
        "/api/v1/allocations/652800-3",
        "/api/v1/projects",
        "/api/v1/projects/652800/P-1",
        "/api/v1/payments",
        "/api/v1/payments/652800-7",
        "/api/v1/trace/payments/652800-7",
        "/api/v1/ledger/summary?as_of=2020-12-31&group_by=node,fund_category",
        "/api/v1/journal?limit=100",
        "/api/v1/search?q=P-1",
        "/api/v1/warnings",
        "/api/v1/sync/heads",
        "/api/v1/sync/link",
        "/api/v1/sync/health",
        "/api/v1/sync/alarms",
        "/api/v1/carryover?as_of=2020-12-31",
        "/api/v1/report/self-evaluation?year=2020",
        "/api/v1/publications",
        "/api/v1/public/notices",
        "/api/v1/public/allocations",
        "/api/v1/public/projects",
        "/api/v1/projects/652800/P-1/submissions",
        "/api/v1/targets/filings",
        "/api/v1/evaluation?year=2020",
        "/api/v1/users",
        "/api/v1/openapi.json",
    ] {
        let r = http.get(node.url(path)).send().await?;
        let status = r.status();
        let answer: Value = r.json().await?;
        ensure!(status.is_success(), "{path}: {status} {answer}");
        check("get", path, None, status, &answer)?;
        checked += 1;
    }
    println!("{checked} exchanges validated against the description");
    node.stop().await
}

/// `/api/docs` on a real node shows each operation's bodies field by
/// field, zh-CN first: the payment's request (凭证号 `voucher_no`, required,
/// its amount linking to `Amount`), the catalog's answer (`defined_by`),
/// the refusal's codes; in English with `?lang=en`; no script.
#[tokio::test]
async fn the_docs_page_shows_the_bodies_field_by_field() -> Result<()> {
    let node = TestNode::start(&prefecture()).await?;
    let http = node.http();
    let r = http.get(node.url("/api/docs")).send().await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    let page = r.text().await?;
    ensure!(!page.contains("<script"), "a script on the page");
    let at = page
        .find("id=\"op-post-api-v1-payments\"")
        .ok_or_else(|| anyhow!("no POST /api/v1/payments section"))?;
    let end = page[at..].find("<section").map_or(page.len(), |n| at + n);
    let op = &page[at..end];
    for want in [
        "请求体",
        "应答",
        "<code>voucher_no</code>",
        "凭证号",
        "<b>必填</b>",
        "href=\"#schema-Amount\"",
        "string (date)",
    ] {
        ensure!(op.contains(want), "{want} not in {op}");
    }
    for want in [
        "id=\"schema-Amount\"",
        "id=\"schema-Error\"",
        "over_allocation",
        "<code>defined_by</code>",
        "数据结构",
    ] {
        ensure!(page.contains(want), "{want} not on the page");
    }
    let en = http
        .get(node.url("/api/docs?lang=en"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        en.contains("API reference") && en.contains("Request body") && en.contains("required"),
        "{en}"
    );
    node.stop().await
}
