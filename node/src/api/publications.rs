//! 公告公示 over the API, the pages' twins with the same permissions:
//! `POST /api/v1/publications` publishes (Publish), `GET
//! /api/v1/publications` and `/{id}` read the 公示台账 (ReadLedger), and
//! `GET /api/v1/public/notices`, `/public/allocations`, `/public/projects`
//! are what the public pages show, for anyone (Public): no actor, nothing
//! classified (a classified or unknown category answers 404 alike).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fundsync_protocol::body::{PublicationScope, ResultsPublished};
use fundsync_protocol::{Body, EntryId, ErrorCode, NodeCode};
use serde::{Deserialize, Serialize};

use super::{created, entry_id, Created, PageQuery};
use crate::access::Permission;
use crate::http::{Acting, ApiError, ApiResult, AppState, Json, Query, Routes};
use crate::ledger::query::{
    Page, Paged, PublicAllocation, PublicAllocationFilter, PublicNotice, PublicProject,
    PublicProjectFilter, PublicationFilter, PublicationView, PAGE_SIZE_MAX,
};

type S = State<Arc<AppState>>;

/// The routes, under `/api/v1`.
pub(super) fn routes(api: Routes) -> Routes {
    use Permission as P;
    api.post("/publications", P::Publish, publish)
        .json::<ResultsPublished, Created>()
        .get("/publications", P::ReadLedger, list)
        .answers::<Paged<PublicationView>>()
        .get("/publications/{id}", P::ReadLedger, detail)
        .answers::<Detail>()
        .get("/public/notices", P::Public, public_notices)
        .answers::<Paged<PublicNotice>>()
        .get("/public/allocations", P::Public, public_allocations)
        .answers::<Paged<PublicAllocation>>()
        .get("/public/projects", P::Public, public_projects)
        .answers::<Paged<PublicProject>>()
}

async fn publish(
    State(s): S,
    Acting(who): Acting,
    Json(b): Json<ResultsPublished>,
) -> ApiResult<impl IntoResponse> {
    Ok(created(
        s.ledger.submit_one(Body::ResultsPublished(b), &who).await?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    origin: Option<NodeCode>,
    scope: Option<PublicationScope>,
    page: Option<u32>,
    page_size: Option<u32>,
}

impl ListQuery {
    fn split(self) -> (PublicationFilter, Page) {
        (
            PublicationFilter {
                origin: self.origin,
                scope: self.scope,
            },
            PageQuery {
                page: self.page,
                page_size: self.page_size,
            }
            .page(),
        )
    }
}

async fn list(State(s): S, Query(q): Query<ListQuery>) -> ApiResult<impl IntoResponse> {
    let (f, page) = q.split();
    Ok(Json(s.ledger.publications(f, page).await?))
}

/// One notice of the 公示台账 with what it made public.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct Detail {
    publication: PublicationView,
    #[serde(skip_serializing_if = "Option::is_none")]
    allocations: Option<Vec<PublicAllocation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projects: Option<Vec<PublicProject>>,
}

async fn detail(State(s): S, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id = entry_id(&id)?;
    let publication = s
        .ledger
        .publication(id)
        .await?
        .ok_or_else(|| ApiError::not_found("publication"))?;
    let all = Page {
        page: 1,
        page_size: PAGE_SIZE_MAX,
    };
    let mut d = Detail {
        publication,
        allocations: None,
        projects: None,
    };
    if d.publication.notice.scope == PublicationScope::Projects.as_str() {
        let f = PublicProjectFilter {
            publication: Some(id),
            ..PublicProjectFilter::default()
        };
        d.projects = Some(s.ledger.public_projects(f, all).await?.items);
    } else {
        let f = PublicAllocationFilter {
            publication: Some(id),
            ..PublicAllocationFilter::default()
        };
        d.allocations = Some(s.ledger.public_allocations(f, all).await?.items);
    }
    Ok(Json(d))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoticeQuery {
    node: Option<NodeCode>,
    scope: Option<PublicationScope>,
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn public_notices(State(s): S, Query(q): Query<NoticeQuery>) -> ApiResult<impl IntoResponse> {
    let (f, page) = ListQuery {
        origin: q.node,
        scope: q.scope,
        page: q.page,
        page_size: q.page_size,
    }
    .split();
    Ok(Json(s.ledger.public_notices(f, page).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PublicAllocationQuery {
    node: Option<NodeCode>,
    recipient: Option<NodeCode>,
    category: Option<String>,
    publication: Option<EntryId>,
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn public_allocations(
    State(s): S,
    Query(q): Query<PublicAllocationQuery>,
) -> ApiResult<impl IntoResponse> {
    if let Some(c) = &q.category {
        if !s.ledger.publicly_listed_category(c).await? {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no published results of that fund category",
            ));
        }
    }
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .page();
    let f = PublicAllocationFilter {
        node: q.node,
        recipient: q.recipient,
        category: q.category,
        publication: q.publication,
    };
    Ok(Json(s.ledger.public_allocations(f, page).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PublicProjectQuery {
    node: Option<NodeCode>,
    township: Option<String>,
    village: Option<String>,
    publication: Option<EntryId>,
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn public_projects(
    State(s): S,
    Query(q): Query<PublicProjectQuery>,
) -> ApiResult<impl IntoResponse> {
    let page = PageQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .page();
    let f = PublicProjectFilter {
        node: q.node,
        township: q.township,
        village: q.village,
        publication: q.publication,
    };
    Ok(Json(s.ledger.public_projects(f, page).await?))
}
