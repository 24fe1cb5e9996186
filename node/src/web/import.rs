//! Imports from the browser: `/import` (支付凭证, permission `Pay`) and
//! `/import/allocations` (下达指标补录, `Allocate`). Upload a CSV (UTF-8,
//! BOM, GBK) or Excel file, see a preview that lists every bad row by line
//! with a Chinese reason, then confirm: one transaction applies all rows, or
//! none.
//!
//! The uploaded file is kept server-side until it is confirmed, in the
//! system's temporary folder (`fundsync-import/`, mode 0700), named by the
//! node, the uploading user's id, the kind and a random 128-bit id: the
//! preview and confirm routes find it only for the same user, so the id
//! alone is worth nothing to anybody else. Confirming first renames the file
//! (`.data` → `.applying`), so a second confirm (a double click, a refresh)
//! finds nothing and records nothing; applying deletes it. Files left
//! unconfirmed are removed a day later, at the next upload.
//!
//! The preview runs as a task of its own: a small file's preview is shown
//! in the answer to the upload; a large one's answer is a page that
//! refreshes itself (the `Refresh` header, no script) showing the rows
//! parsed so far, until the preview is ready.
//!
//! The upload is `multipart/form-data`: its CSRF token is the form's first
//! field, which `http::auth` reads from the body's first part without
//! reading the file (never from the URL). The body limit is
//! the node's `import_bytes_max`, counted here while the file streams in, so
//! a larger file gets a Chinese page (413), not a bare refusal.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::form::{hidden, post_form, submit, FieldError, CSRF_FIELD};
use super::layout::{page, Chrome, Nav};
use super::text::{yuan, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::accounts::User;
use crate::http::auth::see_other;
use crate::http::{Acting, ApiError, AppState, Routes};
use crate::import::{self, ImportError, ImportReport, Kind, Mode, Options, RowError};
use fundsync_protocol::ErrorCode;

type S = State<Arc<AppState>>;

/// How long the upload's answer waits for the preview before it sends the
/// self-refreshing progress page instead.
const PREVIEW_INLINE_MS: u64 = 3000;
/// Uploads not confirmed within this time are removed.
const UPLOAD_KEEP_SECS: u64 = 24 * 3600;
/// Room for the multipart framing and the other fields around the file.
const MULTIPART_SLACK_BYTES: usize = 64 * 1024;
/// How often a running preview writes its progress.
const PROGRESS_EVERY_MS: u64 = 500;

/// The import pages, added to the other pages.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    let mut r = r;
    for (kind, perm) in [(Kind::Payments, P::Pay), (Kind::Allocations, P::Allocate)] {
        let base = base_path(kind);
        r = r
            .get(base, perm, move |ctx: Ctx| form_page(ctx, kind))
            .method(
                Method::POST,
                base,
                perm,
                post(
                    move |ctx: Ctx,
                          s: S,
                          u: Extension<User>,
                          a: Acting,
                          h: HeaderMap,
                          mp: Result<Multipart, MultipartRejection>| {
                        upload(ctx, s, u, a, h, mp, kind)
                    },
                )
                .layer(DefaultBodyLimit::disable()),
            )
            .get(
                &format!("{base}/preview/{{id}}"),
                perm,
                move |ctx: Ctx, s: S, u: Extension<User>, id: UrlPath<String>| {
                    preview_page(ctx, s, u, id, kind)
                },
            )
            .post(
                &format!("{base}/confirm"),
                perm,
                move |ctx: Ctx, s: S, u: Extension<User>, a: Acting, f: Form<ConfirmForm>| {
                    confirm(ctx, s, u, a, f, kind)
                },
            )
            .get(&format!("{base}/template.xlsx"), perm, move || {
                template(kind)
            });
    }
    r
}

fn base_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Payments => "/import",
        Kind::Allocations => "/import/allocations",
    }
}

fn title(l: Lang, kind: Kind) -> &'static str {
    match kind {
        Kind::Payments => l.t("导入支付凭证", "Import payment vouchers"),
        Kind::Allocations => l.t("补录下达指标", "Back-enter issued allocations"),
    }
}

fn nav(kind: Kind) -> Nav {
    match kind {
        Kind::Payments => Nav::Payments,
        Kind::Allocations => Nav::Allocations,
    }
}

/// Where uploads wait for their confirmation.
fn upload_dir() -> PathBuf {
    std::env::temp_dir().join("fundsync-import")
}

/// The stored upload `id` of `user` at this node, without its extension;
/// `None` for an id that is not 32 hex digits (never a path).
fn upload_base(node: &str, user: i64, kind: Kind, id: &str) -> Option<PathBuf> {
    let ok = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| upload_dir().join(format!("{node}-{user}-{}-{id}", kind.as_str())))
}

fn with_ext(base: &Path, ext: &str) -> PathBuf {
    let mut p = base.as_os_str().to_owned();
    p.push(".");
    p.push(ext);
    PathBuf::from(p)
}

/// Removes uploads older than [`UPLOAD_KEEP_SECS`].
async fn sweep(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        let old = e
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > UPLOAD_KEEP_SECS);
        if old {
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}

async fn make_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = tokio::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir).await
}

/// What a preview found, kept next to the upload until it is confirmed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checked {
    pub file_name: String,
    pub report: Option<ImportReport>,
    pub errors: Vec<RowError>,
    /// Why nothing could be checked (an empty file, the node's failure).
    pub failure: Option<String>,
}

impl Checked {
    fn of(file_name: String, r: Result<ImportReport, ImportError>) -> Checked {
        let mut c = Checked {
            file_name,
            report: None,
            errors: Vec::new(),
            failure: None,
        };
        match r {
            Ok(report) => c.report = Some(report),
            Err(ImportError::Rows(rows)) => c.errors = rows,
            Err(ImportError::Empty) => c.failure = Some("文件中没有数据行".to_owned()),
            Err(ImportError::Ledger(crate::ledger::LedgerError::Restored(r))) => {
                c.failure = Some(r.zh());
            }
            Err(ImportError::Ledger(e)) => {
                tracing::warn!(error = %e, "an import could not be checked");
                c.failure = Some("节点内部错误，请查看节点日志".to_owned());
            }
        }
        c
    }

    fn good(&self) -> bool {
        self.report.is_some() && self.errors.is_empty() && self.failure.is_none()
    }
}

/// The upload form, with the refusal of a previous try if any.
pub fn form_render(c: &Chrome, kind: Kind, error: Option<&FieldError>) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let base = base_path(kind);
    // The token is the form's first field, never in the URL (`http::auth`
    // reads it from the body's first part).
    let action = base;
    let invalid = error.map(|_| "true");
    let described = error.map(|_| "f-file-error");
    let body = html! {
        div class="card" {
            p {
                (l.t("支持 CSV（UTF-8、带 BOM 的 UTF-8 或 GBK 编码）和 Excel（.xlsx / .xls）文件；列名用中文或英文字段名均可，金额列名含“万元”时按万元折算。",
                     "CSV (UTF-8, UTF-8 with BOM, or GBK) and Excel (.xlsx / .xls) files; Chinese or English column names; an amount column named with 万元 is read in units of 10,000 yuan."))
            }
            p {
                a href=(format!("{base}/template.xlsx")) { (l.t("下载 Excel 模板", "Download the Excel template")) }
            }
            form class="stack" method="post" enctype="multipart/form-data" action=(action) {
                (hidden(CSRF_FIELD, csrf))
                label for="f-file" {
                    (l.t("文件", "File"))
                    input id="f-file" type="file" name="file" required
                        accept=".csv,.xlsx,.xls,.ods,text/csv"
                        aria-invalid=[invalid] aria-describedby=[described];
                    @if let Some(e) = error {
                        span class="field-error" id="f-file-error" { (e.text(l)) }
                    }
                }
                div { (submit(l.t("上传并预览", "Upload and preview"))) }
            }
            p class="sub" {
                (l.t("预览时逐行检查，有误的行按行号列出；全部无误后确认，所有行在一次事务中登记，任何一行有误则都不登记。",
                     "The preview checks every row and lists the bad ones by line; once all are good, confirming records them in one transaction, or none of them."))
            }
        }
    };
    page(c, nav(kind), title(l, kind), body)
}

/// The preview: counts, the total, every bad row; the confirm button when
/// all rows are good.
pub fn preview_render(c: &Chrome, kind: Kind, id: &str, v: &Checked) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let base = base_path(kind);
    let body = html! {
        (summary(l, v))
        @if let Some(f) = &v.failure {
            div class="note bad" { (f) }
        }
        @if !v.errors.is_empty() {
            div class="note bad" {
                (l.t("以下行有误，未导入任何数据。请修改文件后重新上传。",
                     "These rows are wrong; nothing was imported. Fix the file and upload it again."))
                " (" (v.errors.len()) ")"
            }
            table {
                thead { tr { th class="num" { (l.t("行号", "Line")) } th { (l.t("原因", "Reason")) } } }
                tbody {
                    @for e in &v.errors {
                        tr { td class="num" { (e.line) } td { (e.message) } }
                    }
                }
            }
        }
        @if v.good() {
            div class="note" {
                (l.t("全部行检查无误。确认后一次性登记；重复确认不会重复登记。",
                     "Every row is good. Confirming records them all at once; confirming again records nothing twice."))
            }
            (post_form(&format!("{base}/confirm"), csrf, html! {
                (hidden("upload", id))
                (submit(l.t("确认导入", "Confirm the import")))
                " " a href=(base) { (l.t("取消", "Cancel")) }
            }))
        } @else {
            p { a href=(base) { (l.t("重新上传", "Upload again")) } }
        }
    };
    page(c, nav(kind), l.t("导入预览", "Import preview"), body)
}

fn summary(l: Lang, v: &Checked) -> Markup {
    html! {
        div class="card" {
            dl class="grid" {
                dt { (l.t("文件", "File")) } dd { (v.file_name) }
                @if let Some(r) = &v.report {
                    dt { (l.t("数据行", "Rows")) } dd { (r.rows) }
                    dt { (l.t("新增", "New")) } dd { (r.created) }
                    dt { (l.t("已登记（跳过）", "Already recorded (skipped)")) } dd { (r.existing) }
                    dt { (l.t("新增金额合计（元）", "Total of the new (yuan)")) } dd class="amount" { (yuan(r.total)) }
                }
                @if !v.errors.is_empty() {
                    dt { (l.t("有误的行", "Bad rows")) } dd { (v.errors.len()) }
                }
            }
        }
    }
}

/// While a preview runs.
pub fn progress_render(c: &Chrome, kind: Kind, rows: u64) -> Markup {
    let l = c.lang;
    let body = html! {
        div class="note" {
            (l.t("正在检查文件，已读取 ", "Checking the file; rows read so far: "))
            b { (rows) }
            (l.t(" 行。本页每秒自动刷新。", ". This page refreshes itself every second."))
        }
        progress max="100" { }
    };
    page(c, nav(kind), l.t("导入预览", "Import preview"), body)
}

/// After confirming.
pub fn applied_render(c: &Chrome, kind: Kind, v: &Checked) -> Markup {
    let l = c.lang;
    let done = v.good();
    let list = match kind {
        Kind::Payments => "/payments",
        Kind::Allocations => "/allocations",
    };
    let body = html! {
        @if done {
            div class="note" { (l.t("已导入。", "Imported.")) }
        } @else {
            div class="note bad" { (l.t("未导入任何数据。", "Nothing was imported.")) }
        }
        (summary(l, v))
        @if let Some(f) = &v.failure {
            div class="note bad" { (f) }
        }
        @if !v.errors.is_empty() {
            table {
                thead { tr { th class="num" { (l.t("行号", "Line")) } th { (l.t("原因", "Reason")) } } }
                tbody {
                    @for e in &v.errors {
                        tr { td class="num" { (e.line) } td { (e.message) } }
                    }
                }
            }
        }
        p {
            a href=(list) { (l.t("查看列表", "See the list")) }
            " · "
            a href=(base_path(kind)) { (l.t("继续导入", "Import another file")) }
        }
    };
    page(c, nav(kind), title(l, kind), body)
}

async fn form_page(ctx: Ctx, kind: Kind) -> Response {
    let r = Ok(form_render(&ctx.chrome, kind, None));
    ctx.respond(r)
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

/// A refusal of the upload, shown on the form next to the file field.
fn refuse_upload(ctx: Ctx, kind: Kind, status: StatusCode, e: FieldError) -> Response {
    let m = form_render(&ctx.chrome, kind, Some(&e));
    with_status(ctx.respond(Ok(m)), status)
}

fn too_large(max: usize) -> FieldError {
    let mib = max / (1024 * 1024);
    FieldError::new(
        format!("文件超过上限 {mib} MiB，未导入。请拆分文件，或用命令行 fundsync import 导入。"),
        format!("The file is larger than the limit of {mib} MiB; nothing was imported. Split it, or use `fundsync import`."),
    )
}

async fn upload(
    mut ctx: Ctx,
    State(s): S,
    Extension(u): Extension<User>,
    Acting(who): Acting,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
    kind: Kind,
) -> Response {
    // The answer is a page of its own: no token in its links.
    ctx.chrome.query.retain(|(k, _)| k != CSRF_FIELD);
    let max = s.import_bytes_max;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max.saturating_add(MULTIPART_SLACK_BYTES)) {
        return refuse_upload(ctx, kind, StatusCode::PAYLOAD_TOO_LARGE, too_large(max));
    }
    let Ok(mut mp) = mp else {
        let e = FieldError::new(
            "请用本页的表单上传文件",
            "Upload the file with this page's form",
        );
        return refuse_upload(ctx, kind, StatusCode::BAD_REQUEST, e);
    };
    let mut bytes = Vec::new();
    let mut file_name = String::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                let e = FieldError::new(
                    "上传中断或格式有误，请重试",
                    "The upload was cut off or malformed; try again",
                );
                return refuse_upload(ctx, kind, StatusCode::BAD_REQUEST, e);
            }
        };
        if field.name() != Some("file") {
            continue;
        }
        file_name = field.file_name().unwrap_or("").to_owned();
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    if bytes.len().saturating_add(c.len()) > max {
                        return refuse_upload(
                            ctx,
                            kind,
                            StatusCode::PAYLOAD_TOO_LARGE,
                            too_large(max),
                        );
                    }
                    bytes.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(_) => {
                    let e =
                        FieldError::new("上传中断，请重试", "The upload was cut off; try again");
                    return refuse_upload(ctx, kind, StatusCode::BAD_REQUEST, e);
                }
            }
        }
    }
    if bytes.is_empty() {
        let e = FieldError::new(
            "请选择要上传的文件（文件不能为空）",
            "Choose a file to upload (it must not be empty)",
        );
        return refuse_upload(ctx, kind, StatusCode::UNPROCESSABLE_ENTITY, e);
    }
    let dir = upload_dir();
    if let Err(e) = make_dir(&dir).await {
        return ctx.respond(Err(internal(e)));
    }
    sweep(&dir).await;
    let id = hex::encode(rand::random::<[u8; 16]>());
    let node = s.ledger.identity().code.to_string();
    let Some(base) = upload_base(&node, u.id, kind, &id) else {
        return ctx.respond(Err(internal("upload id")));
    };
    if let Err(e) = tokio::fs::write(with_ext(&base, "data"), &bytes).await {
        return ctx.respond(Err(internal(e)));
    }
    let options = Options {
        actor: who,
        categories: match u.visible_categories(&s.ledger).await {
            Ok(c) => c,
            Err(e) => return ctx.respond(Err(e.into())),
        },
        progress: Some(Arc::new(AtomicU64::new(0))),
    };
    let ledger = s.ledger.clone();
    let job_base = base.clone();
    let mut job = tokio::spawn(async move {
        let progress = options.progress.clone().unwrap_or_default();
        let ticker = tokio::spawn(write_progress(with_ext(&job_base, "progress"), progress));
        let r = import::run(
            &ledger,
            kind,
            Box::new(Cursor::new(bytes)),
            &options,
            Mode::Preview,
        )
        .await;
        ticker.abort();
        let checked = Checked::of(file_name, r);
        if let Ok(json) = serde_json::to_vec(&checked) {
            let _ = tokio::fs::write(with_ext(&job_base, "json"), json).await;
        }
        if !checked.good() {
            let _ = tokio::fs::remove_file(with_ext(&job_base, "data")).await;
        }
        let _ = tokio::fs::remove_file(with_ext(&job_base, "progress")).await;
        checked
    });
    let preview = format!("{}/preview/{id}", base_path(kind));
    match tokio::time::timeout(Duration::from_millis(PREVIEW_INLINE_MS), &mut job).await {
        Ok(Ok(checked)) => {
            ctx.chrome.path = preview;
            ctx.chrome.query.clear();
            let status = if checked.good() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let m = preview_render(&ctx.chrome, kind, &id, &checked);
            with_status(ctx.respond(Ok(m)), status)
        }
        Ok(Err(e)) => ctx.respond(Err(internal(e))),
        Err(_) => see_other(&preview),
    }
}

async fn write_progress(path: PathBuf, rows: Arc<AtomicU64>) {
    loop {
        let _ = tokio::fs::write(&path, rows.load(Ordering::Relaxed).to_string()).await;
        tokio::time::sleep(Duration::from_millis(PROGRESS_EVERY_MS)).await;
    }
}

fn gone(l: Lang) -> WebError {
    WebError {
        error: ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            l.t(
                "该上传不存在，或已导入、已过期",
                "No such upload, or it was imported or has expired",
            ),
        ),
        zh: "找不到该上传",
        en: "No such upload",
    }
}

async fn preview_page(
    mut ctx: Ctx,
    State(s): S,
    Extension(u): Extension<User>,
    UrlPath(id): UrlPath<String>,
    kind: Kind,
) -> Response {
    let l = ctx.chrome.lang;
    let node = s.ledger.identity().code.to_string();
    let Some(base) = upload_base(&node, u.id, kind, &id) else {
        return ctx.respond(Err(gone(l)));
    };
    if let Ok(json) = tokio::fs::read(with_ext(&base, "json")).await {
        return match serde_json::from_slice::<Checked>(&json) {
            Ok(checked) => {
                ctx.chrome.query.clear();
                let m = preview_render(&ctx.chrome, kind, &id, &checked);
                ctx.respond(Ok(m))
            }
            Err(e) => ctx.respond(Err(internal(e))),
        };
    }
    if tokio::fs::try_exists(with_ext(&base, "data"))
        .await
        .unwrap_or(false)
    {
        let rows = tokio::fs::read_to_string(with_ext(&base, "progress"))
            .await
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let m = progress_render(&ctx.chrome, kind, rows);
        let mut r = ctx.respond(Ok(m));
        r.headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static("1"));
        return r;
    }
    ctx.respond(Err(gone(l)))
}

/// The confirm form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    upload: String,
}

async fn confirm(
    ctx: Ctx,
    State(s): S,
    Extension(u): Extension<User>,
    Acting(who): Acting,
    Form(f): Form<ConfirmForm>,
    kind: Kind,
) -> Response {
    let l = ctx.chrome.lang;
    let node = s.ledger.identity().code.to_string();
    let Some(base) = upload_base(&node, u.id, kind, f.upload.trim()) else {
        return ctx.respond(Err(gone(l)));
    };
    // Claim the upload: only one confirm gets it.
    let claimed = with_ext(&base, "applying");
    if tokio::fs::rename(with_ext(&base, "data"), &claimed)
        .await
        .is_err()
    {
        let e = WebError {
            error: ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                l.t(
                    "该文件已导入或正在导入，或已过期；没有重复登记",
                    "This file was imported or is being imported, or has expired; nothing was recorded twice",
                ),
            ),
            zh: "未重复导入",
            en: "Not imported twice",
        };
        return ctx.respond(Err(e));
    }
    let file_name = tokio::fs::read(with_ext(&base, "json"))
        .await
        .ok()
        .and_then(|j| serde_json::from_slice::<Checked>(&j).ok())
        .map(|c| c.file_name)
        .unwrap_or_default();
    let bytes = match tokio::fs::read(&claimed).await {
        Ok(b) => b,
        Err(e) => return ctx.respond(Err(internal(e))),
    };
    let options = Options {
        actor: who,
        categories: match u.visible_categories(&s.ledger).await {
            Ok(c) => c,
            Err(e) => return ctx.respond(Err(e.into())),
        },
        progress: None,
    };
    let r = import::run(
        &s.ledger,
        kind,
        Box::new(Cursor::new(bytes)),
        &options,
        Mode::Apply,
    )
    .await;
    let checked = Checked::of(file_name, r);
    let _ = tokio::fs::remove_file(&claimed).await;
    let _ = tokio::fs::remove_file(with_ext(&base, "json")).await;
    let status = if checked.good() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let m = applied_render(&ctx.chrome, kind, &checked);
    with_status(ctx.respond(Ok(m)), status)
}

async fn template(kind: Kind) -> Response {
    match import::template::xlsx(kind) {
        Ok(bytes) => {
            let name = match kind {
                Kind::Payments => "payments-template.xlsx",
                Kind::Allocations => "allocations-template.xlsx",
            };
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            format!("template: {e}"),
        )
        .into_response(),
    }
}

fn internal(e: impl std::fmt::Display) -> WebError {
    tracing::warn!(error = %e, "import page failed");
    WebError {
        error: ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, ""),
        zh: "内部错误，请查看节点日志",
        en: "Internal error; see the node's log",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::layout::test_chrome;

    fn checked(errors: Vec<RowError>) -> Checked {
        Checked {
            file_name: "凭证.csv".into(),
            report: Some(ImportReport {
                rows: 3,
                created: 2,
                existing: 1,
                total: rust_decimal::Decimal::new(3_000_050, 2),
            }),
            errors,
            failure: None,
        }
    }

    #[test]
    fn a_good_preview_offers_the_confirm_button_with_the_total() {
        let c = test_chrome(Lang::Zh);
        let h = preview_render(&c, Kind::Payments, &"a".repeat(32), &checked(vec![])).into_string();
        assert!(
            h.contains("确认导入") && h.contains("/import/confirm"),
            "{h}"
        );
        assert!(h.contains("30,000.50") || h.contains("30000.50"), "{h}");
    }

    #[test]
    fn a_bad_preview_lists_rows_by_line_and_offers_no_confirm() {
        let c = test_chrome(Lang::Zh);
        let v = checked(vec![RowError {
            line: 7,
            message: "金额 “1.001” 超过 2 位小数（最小单位为分）".into(),
        }]);
        let h = preview_render(&c, Kind::Payments, &"a".repeat(32), &v).into_string();
        assert!(
            h.contains("<td class=\"num\">7</td>") && h.contains("超过 2 位小数"),
            "{h}"
        );
        assert!(!h.contains("/import/confirm"), "{h}");
    }

    #[test]
    fn upload_ids_are_never_paths() {
        assert!(upload_base("652822", 1, Kind::Payments, "../../etc/passwd").is_none());
        assert!(upload_base("652822", 1, Kind::Payments, &"g".repeat(32)).is_none());
        let b = upload_base("652822", 1, Kind::Payments, &"0f".repeat(16)).expect("an id");
        assert!(b.starts_with(upload_dir()));
    }

    #[test]
    fn the_upload_form_carries_the_token_first_in_its_body() {
        let mut c = test_chrome(Lang::Zh);
        if let Some(w) = c.who.as_mut() {
            w.csrf = "tok".into();
        }
        let h = form_render(&c, Kind::Payments, None).into_string();
        assert!(h.contains("action=\"/import\""), "{h}");
        assert!(!h.contains("csrf_token=tok"), "{h}");
        let token = h.find("name=\"csrf_token\" value=\"tok\"");
        let file = h.find("type=\"file\"");
        assert!(token.is_some() && token < file, "the token first: {h}");
        assert!(h.contains("enctype=\"multipart/form-data\""), "{h}");
    }
}
