//! The body of `/api/docs` (接口说明): the OpenAPI document rendered as
//! HTML, no script. Per tag, the operations' table (method, path,
//! permission, roles); then each operation with its request body and its
//! answers, each a table of fields (name, a Chinese gloss, type, required,
//! what it admits: enum values, pattern, format, the schema's description);
//! then every named schema (`#/components/schemas/…`) once, as the target
//! of the types' links, so a nested type is one click away.

use maud::{html, Markup, PreEscaped};
use serde_json::{Map, Value};

use crate::access::{Permission, Role};
use crate::http::RouteInfo;
use crate::web::text::Lang;

/// How deep inline (unnamed) objects are opened inside a field table.
const INLINE_DEPTH: usize = 3;

/// Chinese names of the fields the bodies share, shown beside the wire
/// name (the wire name stays what a client sends).
const GLOSS: &[(&str, &str)] = &[
    ("doc_no", "文号"),
    ("amount", "金额（元）"),
    ("category", "资金类别"),
    ("source", "来源"),
    ("to", "下达单位"),
    ("issued_on", "下达日期"),
    ("received_on", "收到日期"),
    ("budgeted_on", "预算日期"),
    ("paid_on", "支付日期"),
    ("reversed_on", "冲销日期"),
    ("title", "标题"),
    ("voucher_no", "凭证号"),
    ("payer", "付款单位"),
    ("payee_name", "收款人"),
    ("payee_account", "收款账号"),
    ("payee_bank", "收款银行"),
    ("function_class", "支出功能分类"),
    ("allocation", "指标"),
    ("project", "项目"),
    ("purpose", "用途"),
    ("reason", "原因"),
    ("code", "编码"),
    ("name", "名称"),
    ("origin", "来源层级"),
    ("department", "归口科室"),
    ("classified", "涉密"),
    ("defined_by", "定义节点"),
    ("level", "层级"),
    ("parent", "上级"),
    ("township", "乡镇"),
    ("village", "村"),
    ("budget", "预算（元）"),
    ("starts_on", "开工日期"),
    ("ends_on", "完工日期"),
    ("status", "状态"),
    ("note", "备注"),
    ("indicator", "三级指标"),
    ("level1", "一级指标"),
    ("level2", "二级指标"),
    ("op", "比较"),
    ("value", "指标值"),
    ("unit", "单位"),
    ("actual", "实际值"),
    ("id", "编号"),
    ("created", "新建"),
    ("error", "错误代码"),
    ("message", "说明"),
    ("items", "条目"),
    ("total", "总数"),
    ("page", "页码"),
    ("page_size", "每页条数"),
    ("node", "节点"),
    ("holder", "持有单位"),
    ("balance", "余额"),
    ("date", "日期"),
    ("login", "登录名"),
    ("roles", "角色"),
];

fn gloss(field: &str) -> Option<&'static str> {
    GLOSS.iter().find(|(k, _)| *k == field).map(|(_, v)| *v)
}

/// The tag of a path: its first segment after `/api/v1/`.
pub fn tag_of(path: &str) -> &str {
    path.trim_start_matches("/api/v1/")
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
}

/// The name a `$ref` points to under `#/components/schemas/`.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")
}

/// The anchor of a named schema.
fn schema_anchor(name: &str) -> String {
    format!("schema-{name}")
}

/// The anchor of an operation.
fn op_anchor(method: &str, path: &str) -> String {
    let mut a = format!("op-{}", method.to_ascii_lowercase());
    for c in path.chars() {
        a.push(if c.is_ascii_alphanumeric() { c } else { '-' });
    }
    a
}

/// A schema's type, readably: a named type links to its schema, an array
/// is `T[]`, alternatives are `A | B`, a nullable one `T | null`.
fn type_of(l: Lang, s: &Value) -> Markup {
    if let Some(name) = ref_name(s) {
        return html! { a href=(format!("#{}", schema_anchor(name))) { (name) } };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            return html! {
                @for (i, a) in alts.iter().enumerate() {
                    @if i > 0 { " | " }
                    (type_of(l, a))
                }
            };
        }
    }
    let one = |t: &str| -> Markup {
        match t {
            "array" => {
                let items = s
                    .get("items")
                    .map_or_else(|| html! { (l.t("任意", "any")) }, |i| type_of(l, i));
                html! { (items) "[]" }
            }
            "object" if s.get("properties").is_none() => match s.get("additionalProperties") {
                Some(v) if v.is_object() => html! { "map<string, " (type_of(l, v)) ">" },
                _ => html! { "object" },
            },
            t => html! { (t) },
        }
    };
    match s.get("type") {
        Some(Value::String(t)) => {
            let base = one(t);
            match s.get("format").and_then(Value::as_str) {
                Some(f) => html! { (base) " (" (f) ")" },
                None => base,
            }
        }
        Some(Value::Array(ts)) => html! {
            @for (i, t) in ts.iter().filter_map(Value::as_str).enumerate() {
                @if i > 0 { " | " }
                (one(t))
            }
        },
        _ if s.get("const").is_some() => html! { "const" },
        _ if s.get("enum").is_some() => html! { "enum" },
        _ if s.as_bool() == Some(true) || s.as_object().is_some_and(Map::is_empty) => {
            html! { (l.t("任意 JSON", "any JSON")) }
        }
        _ => html! { "object" },
    }
}

/// What a schema admits beyond its type: its description, enum values,
/// a constant, its pattern, bounds and default.
fn admits(l: Lang, s: &Value) -> Markup {
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => s.clone(),
        v => v.to_string(),
    };
    let list = |k: &str| -> Option<String> {
        let vs = s.get(k)?.as_array()?;
        Some(vs.iter().map(text).collect::<Vec<_>>().join(", "))
    };
    // A nullable alternative's details sit on the non-null branch.
    let inner = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| s.get(*k).and_then(Value::as_array))
        .flatten()
        .find(|a| a.get("type") != Some(&Value::String("null".into())) && ref_name(a).is_none());
    html! {
        @if let Some(d) = s.get("description").and_then(Value::as_str) {
            span class="desc" { (d) } " "
        }
        @if let Some(vs) = list("enum") {
            span class="enum" { (l.t("可选值：", "One of: ")) code { (vs) } } " "
        }
        @if let Some(c) = s.get("const") {
            span { (l.t("固定为 ", "Always ")) code { (text(c)) } } " "
        }
        @if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            span { (l.t("格式 ", "Pattern ")) code { (p) } } " "
        }
        @for (k, zh, en) in [("minimum", "最小 ", "min "), ("maximum", "最大 ", "max "), ("minLength", "最短 ", "min length "), ("maxLength", "最长 ", "max length "), ("minItems", "至少 ", "min items ")] {
            @if let Some(v) = s.get(k) {
                span { (l.t(zh, en)) (text(v)) } " "
            }
        }
        @if let Some(v) = s.get("default") {
            span { (l.t("缺省 ", "Default ")) code { (text(v)) } } " "
        }
        @if let Some(i) = inner {
            (admits(l, i))
        }
    }
}

/// The rows of an object's fields, inline objects opened as `a.b`.
fn field_rows(
    l: Lang,
    s: &Value,
    schemas: &Value,
    prefix: &str,
    depth: usize,
    out: &mut Vec<Markup>,
) {
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, p) in props {
        let full = format!("{prefix}{name}");
        let must = required.contains(&name.as_str());
        // A named scalar (an amount, an id, a code list) is described where
        // it is used too: its description, pattern or values.
        let named_scalar = ref_name(p)
            .and_then(|n| schemas.get(n))
            .filter(|t| t.get("properties").is_none() && t.get("oneOf").is_none());
        out.push(html! {
            tr {
                td class="nowrap" { code { (full) } }
                td class="nowrap" { (gloss(name).unwrap_or("")) }
                td { (type_of(l, p)) }
                td class="nowrap" {
                    @if must { b { (l.t("必填", "required")) } } @else { span class="muted" { (l.t("可选", "optional")) } }
                }
                td {
                    (admits(l, p))
                    @if let Some(t) = named_scalar { (admits(l, t)) }
                }
            }
        });
        if depth < INLINE_DEPTH && p.get("properties").is_some() {
            field_rows(l, p, schemas, &format!("{full}."), depth + 1, out);
        }
        if let Some(items) = p.get("items") {
            if depth < INLINE_DEPTH && items.get("properties").is_some() {
                field_rows(l, items, schemas, &format!("{full}[]."), depth + 1, out);
            }
        }
    }
}

/// A schema as a table of its fields, or (not an object) as one line: its
/// type and what it admits. Alternatives (`oneOf`) each get theirs.
fn schema_table(l: Lang, s: &Value, schemas: &Value) -> Markup {
    if let Some(alts) = s
        .get("oneOf")
        .or_else(|| s.get("anyOf"))
        .and_then(Value::as_array)
    {
        if alts.iter().any(|a| a.get("properties").is_some()) {
            return html! {
                @if let Some(d) = s.get("description").and_then(Value::as_str) { p class="desc" { (d) } }
                p { (l.t("以下之一：", "One of:")) }
                ol class="alternatives" {
                    @for a in alts { li { (schema_table(l, a, schemas)) } }
                }
            };
        }
    }
    let mut rows = Vec::new();
    field_rows(l, s, schemas, "", 0, &mut rows);
    if rows.is_empty() {
        return html! { p { (l.t("类型：", "Type: ")) (type_of(l, s)) " " (admits(l, s)) } };
    }
    html! {
        @if let Some(d) = s.get("description").and_then(Value::as_str) { p class="desc" { (d) } }
        div class="scroll" {
            table class="fields" {
                thead { tr {
                    th { (l.t("字段", "Field")) }
                    th { (l.t("中文名", "Chinese name")) }
                    th { (l.t("类型", "Type")) }
                    th { (l.t("必填", "Required")) }
                    th { (l.t("说明", "Description")) }
                } }
                tbody { @for r in rows { (r) } }
            }
        }
    }
}

/// A body (`{media type: {schema}}`): its media type, then the schema
/// named (a link and, once, its fields in place) or inline.
fn body(l: Lang, content: &Value, schemas: &Value) -> Markup {
    html! {
        @for (media, c) in content.as_object().into_iter().flatten() {
            p class="sub" { code { (media) } }
            @match c.get("schema") {
                None => { p class="muted" { (l.t("非 JSON（如 CSV、文本或文件）", "Not JSON (CSV, text or a file)")) } }
                Some(s) => {
                    @let named = ref_name(s).and_then(|n| Some((n, schemas.get(n)?)));
                    @let listed = s.get("items").and_then(|i| Some((ref_name(i)?, i)));
                    @if let Some((_, target)) = named {
                        p { (l.t("类型：", "Type: ")) (type_of(l, s)) }
                        (schema_table(l, target, schemas))
                    } @else if let Some((name, _)) = listed {
                        p { (l.t("类型：", "Type: ")) (type_of(l, s)) }
                        @if let Some(target) = schemas.get(name) { (schema_table(l, target, schemas)) }
                    } @else {
                        (schema_table(l, s, schemas))
                    }
                }
            }
        }
    }
}

/// Who holds a permission, in the reader's language.
fn roles(l: Lang, p: Permission) -> String {
    match p {
        Permission::Public => l.t("任何人", "anyone").to_owned(),
        Permission::SignedIn => l.t("已登录", "signed in").to_owned(),
        p => Role::ALL
            .iter()
            .filter(|r| r.permits(p))
            .map(|r| match l {
                Lang::Zh => r.zh().to_owned(),
                Lang::En => r.as_str().to_owned(),
            })
            .collect::<Vec<_>>()
            .join(match l {
                Lang::Zh => "、",
                Lang::En => ", ",
            }),
    }
}

/// What a status code means, briefly.
fn status_text(l: Lang, status: &str, answer: &Value) -> String {
    let zh = match status {
        "200" => "成功",
        "201" => "已记录",
        "204" => "成功，无内容",
        "400" => "请求或参数有误",
        "401" => "未登录或凭据无效",
        "403" => "角色或范围不允许",
        "404" => "本节点无此记录",
        "409" => "与已记录的内容冲突",
        "413" => "请求体过大",
        "422" => "台账规则拒绝，未记录任何内容",
        "default" => "其他拒绝（415 类型不符、429 繁忙、503 未就绪）",
        _ => "",
    };
    match l {
        Lang::Zh if !zh.is_empty() => zh.to_owned(),
        _ => answer
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    }
}

/// The page's body, from the document and the routes it was made from.
pub fn render(l: Lang, doc: &Value, routes: &[RouteInfo]) -> Markup {
    let schemas = &doc["components"]["schemas"];
    let mut tags: Vec<&str> = Vec::new();
    for r in routes {
        let t = tag_of(&r.path);
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let style = PreEscaped(
        "<style>.op{border-top:1px solid #ddd;margin-top:1.2em;padding-top:.4em}\
         table.fields td{vertical-align:top}.desc{color:#333}.enum code{white-space:normal}\
         .schema{margin-top:1em}</style>",
    );
    html! {
        (style)
        p class="sub" {
            (l.t(
                "本节点的 JSON 接口，由路由表生成。机器可读版本：",
                "This node's JSON API, made from its route table. Machine-readable: "
            ))
            a href="/api/v1/openapi.json" { "/api/v1/openapi.json" } " (OpenAPI 3.1)"
        }
        p class="sub" {
            (l.t(
                "金额为元的十进制字符串（最多两位小数，不用 JSON 数字）；每个拒绝都答 {\"error\": 代码, \"message\": 说明}。点击类型名查看其字段。",
                "Amounts are decimal strings in yuan (at most two decimals, never JSON numbers); every refusal is {\"error\": code, \"message\": text}. Click a type's name for its fields."
            ))
        }
        nav class="toc" {
            @for t in &tags { a href=(format!("#tag-{t}")) { (t) } " " }
            a href="#schemas" { (l.t("数据结构", "Schemas")) }
        }
        @for t in &tags {
            h2 id=(format!("tag-{t}")) { (t) }
            div class="scroll" {
                table {
                    thead { tr {
                        th { (l.t("方法", "Method")) }
                        th { (l.t("路径", "Path")) }
                        th { (l.t("权限", "Permission")) }
                        th { (l.t("角色", "Roles")) }
                    } }
                    tbody {
                        @for r in routes.iter().filter(|r| tag_of(&r.path) == *t) {
                            tr {
                                td class="nowrap" { code { (r.method) } }
                                td { a href=(format!("#{}", op_anchor(r.method.as_str(), &r.path))) { code { (r.path) } } }
                                td class="nowrap" { (r.permission.zh()) " " span class="muted" { (r.permission) } }
                                td { (roles(l, r.permission)) }
                            }
                        }
                    }
                }
            }
            @for r in routes.iter().filter(|r| tag_of(&r.path) == *t) {
                @let op = &doc["paths"][&r.path][r.method.as_str().to_ascii_lowercase()];
                section class="op" id=(op_anchor(r.method.as_str(), &r.path)) {
                    h3 { code { (r.method) " " (r.path) } }
                    @if let Some(ps) = op["parameters"].as_array().filter(|p| !p.is_empty()) {
                        p {
                            (l.t("路径参数：", "Path parameters: "))
                            @for (i, p) in ps.iter().enumerate() {
                                @if i > 0 { ", " }
                                code { (p["name"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                    h4 { (l.t("请求体", "Request body")) }
                    @match op.get("requestBody") {
                        Some(b) => { (body(l, &b["content"], schemas)) }
                        None => { p class="muted" { (l.t("无", "None")) } }
                    }
                    h4 { (l.t("应答", "Answers")) }
                    @for status in ["200", "201"] {
                        @if let Some(a) = op["responses"].get(status).filter(|a| a.get("content").is_some()) {
                            p { b { (status) } " " (status_text(l, status, a)) }
                            (body(l, &a["content"], schemas))
                        }
                    }
                    p class="sub" {
                        @for (status, a) in op["responses"].as_object().into_iter().flatten() {
                            @if a.get("content").is_none() || !["200", "201"].contains(&status.as_str()) {
                                code { (status) } " " (status_text(l, status, a)) "；"
                            }
                        }
                        @if op["responses"].get("400").is_some() {
                            (l.t("拒绝的应答体见 ", "refusals answer ")) a href=(format!("#{}", schema_anchor("Error"))) { "Error" }
                        }
                    }
                }
            }
        }
        h2 id="schemas" { (l.t("数据结构", "Schemas")) }
        @for (name, s) in schemas.as_object().into_iter().flatten() {
            section class="schema" id=(schema_anchor(name)) {
                h3 { code { (name) } }
                (schema_table(l, s, schemas))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_shows_its_gloss_type_requirement_and_enum() {
        let schemas = json!({
            "Body": {"type": "object", "required": ["doc_no", "kind"], "properties": {
                "doc_no": {"type": "string", "description": "The 文号"},
                "kind": {"type": "string", "enum": ["own_budget", "allocation"]},
                "amount": {"$ref": "#/components/schemas/Amount"},
                "on": {"type": "string", "format": "date"},
                "rows": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": ["integer", "null"]}}}},
            }},
            "Amount": {"type": "string", "pattern": "^[0-9]+$"},
        });
        let content =
            json!({"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}});
        let s = body(Lang::Zh, &content, &schemas).into_string();
        assert!(s.contains("<code>doc_no</code>"), "{s}");
        assert!(s.contains("文号"), "{s}");
        assert!(s.contains("<b>必填</b>"), "{s}");
        assert!(s.contains("可选值："), "{s}");
        assert!(s.contains("own_budget, allocation"), "{s}");
        assert!(s.contains("href=\"#schema-Amount\""), "{s}");
        assert!(s.contains("string (date)"), "{s}");
        assert!(s.contains("<code>rows[].x</code>"), "{s}");
        assert!(s.contains("integer | null"), "{s}");
        // The named scalar's pattern is shown by the field that uses it.
        assert!(s.contains("<code>^[0-9]+$</code>"), "{s}");
        let en = body(Lang::En, &content, &schemas).into_string();
        assert!(en.contains("required") && en.contains("One of: "), "{en}");
    }
}
