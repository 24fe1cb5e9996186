//! The people's own endpoints: who am I (`/me`), my API tokens (`/tokens`),
//! and, for administrators, the users of this node (`/users`) and their
//! tokens. Accounts are the node's own (`crate::accounts`); these handlers
//! only ask them and answer in the API's `{error, message}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Extension;
use serde::{Deserialize, Serialize};

use crate::access::{Permission, Role};
use crate::accounts::{AccountError, NewUser, User};
use crate::http::auth::Caller;
use crate::http::{ApiError, ApiResult, AppState, Json, Media, Routes};

type S = State<Arc<AppState>>;

/// Adds the people's endpoints to the API's routes (under `/api/v1`).
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/me", P::SignedIn, me)
        .answers::<Me>()
        .get("/tokens", P::SignedIn, my_tokens)
        .answers::<Vec<TokenView>>()
        .post("/tokens", P::SignedIn, create_my_token)
        .json::<NewTokenBody, CreatedToken>()
        .delete("/tokens/{id}", P::SignedIn, revoke_my_token)
        .bodies(None, None)
        .get("/users", P::ManageAccounts, users)
        .answers::<Vec<UserView>>()
        .post("/users", P::ManageAccounts, create_user)
        .json::<NewUserBody, UserView>()
        .post("/users/{login}/disable", P::ManageAccounts, disable)
        .answers::<UserView>()
        .post("/users/{login}/enable", P::ManageAccounts, enable)
        .answers::<UserView>()
        .post(
            "/users/{login}/reset-password",
            P::ManageAccounts,
            reset_password,
        )
        .bodies(Some(Media::json::<PasswordBody>()), None)
        .post("/users/{login}/roles", P::ManageAccounts, set_roles)
        .json::<RolesBody, UserView>()
        .get("/users/{login}/tokens", P::ManageAccounts, user_tokens)
        .answers::<Vec<TokenView>>()
        .post(
            "/users/{login}/tokens",
            P::ManageAccounts,
            create_user_token,
        )
        .json::<NewTokenBody, CreatedToken>()
        .delete(
            "/users/{login}/tokens/{id}",
            P::ManageAccounts,
            revoke_user_token,
        )
        .bodies(None, None)
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        use fundsync_protocol::ErrorCode as C;
        let code = e.code();
        let status = match code {
            C::NotFound => StatusCode::NOT_FOUND,
            C::Conflict => StatusCode::CONFLICT,
            C::Internal => {
                tracing::error!(error = %e, "accounts failure");
                return ApiError::internal();
            }
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// A user as the API shows them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UserView {
    pub login: String,
    pub name: String,
    pub department: Option<String>,
    pub roles: Vec<&'static str>,
    pub classified: bool,
    pub disabled: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            login: u.login.clone(),
            name: u.name.clone(),
            department: u.department.clone(),
            roles: u.roles.iter().map(|r| r.as_str()).collect(),
            classified: u.classified,
            disabled: u.disabled,
        }
    }
}

/// The caller and how they signed in (`session` or `token`).
#[derive(Serialize, schemars::JsonSchema)]
struct Me {
    #[serde(flatten)]
    user: UserView,
    via: &'static str,
}

/// `GET /me`: the caller, and how they signed in.
async fn me(Extension(c): Extension<Caller>) -> impl IntoResponse {
    Json(Me {
        user: UserView::from(&c.user),
        via: match c.via {
            crate::http::auth::Via::Session => "session",
            crate::http::auth::Via::Token => "token",
        },
    })
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct TokenView {
    id: i64,
    name: String,
    created_ms: i64,
    expires_ms: i64,
}

async fn tokens_of(s: &AppState, u: &User) -> ApiResult<Vec<TokenView>> {
    Ok(s.accounts
        .tokens(u.id)
        .await?
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            created_ms: t.created_ms,
            expires_ms: t.expires_ms,
        })
        .collect())
}

/// A token to create.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    name: String,
    days: Option<u32>,
}

/// The token just created: its secret, shown this once.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct CreatedToken {
    id: i64,
    secret: String,
    expires: i64,
}

async fn create_token_for(
    s: &AppState,
    by: &Caller,
    u: &User,
    b: NewTokenBody,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let t = s.accounts.create_token(u.id, &b.name, b.days).await?;
    tracing::debug!(by = %by.user.login, user = %u.login, token = t.id, "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: t.id,
            secret: t.secret.to_string(),
            expires: t.expires_ms,
        }),
    ))
}

async fn revoke_token_of(s: &AppState, u: &User, id: i64) -> ApiResult<StatusCode> {
    s.accounts.revoke_token(u.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn token_id(id: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            fundsync_protocol::ErrorCode::InvalidId,
            format!("token id {id:?} is not a number"),
        )
    })
}

async fn my_tokens(State(s): S, Extension(c): Extension<Caller>) -> ApiResult<impl IntoResponse> {
    Ok(Json(tokens_of(&s, &c.user).await?))
}

async fn create_my_token(
    State(s): S,
    Extension(c): Extension<Caller>,
    Json(b): Json<NewTokenBody>,
) -> ApiResult<impl IntoResponse> {
    create_token_for(&s, &c, &c.user, b).await
}

async fn revoke_my_token(
    State(s): S,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    revoke_token_of(&s, &c.user, token_id(&id)?).await
}

async fn user_named(s: &AppState, login: &str) -> ApiResult<User> {
    s.accounts
        .user(login)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

async fn users(State(s): S) -> ApiResult<impl IntoResponse> {
    let all = s.accounts.users().await?;
    Ok(Json(all.iter().map(UserView::from).collect::<Vec<_>>()))
}

/// A user to create.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    login: String,
    name: String,
    password: String,
    #[serde(default)]
    department: Option<String>,
    roles: Vec<String>,
    #[serde(default)]
    classified: bool,
}

fn roles_of(names: &[String]) -> ApiResult<Vec<Role>> {
    names
        .iter()
        .map(|r| {
            r.parse::<Role>().map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    fundsync_protocol::ErrorCode::InvalidInput,
                    e.to_string(),
                )
            })
        })
        .collect()
}

async fn create_user(State(s): S, Json(b): Json<NewUserBody>) -> ApiResult<impl IntoResponse> {
    let roles = roles_of(&b.roles)?;
    let u = s
        .accounts
        .create_user(NewUser {
            login: b.login.clone(),
            name: b.name.clone(),
            password: b.password.clone(),
            department: b.department.clone(),
            roles,
            classified: b.classified,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&u))))
}

async fn disable(State(s): S, Path(login): Path<String>) -> ApiResult<impl IntoResponse> {
    s.accounts.set_disabled(&login, true).await?;
    Ok(Json(UserView::from(&user_named(&s, &login).await?)))
}

async fn enable(State(s): S, Path(login): Path<String>) -> ApiResult<impl IntoResponse> {
    s.accounts.set_disabled(&login, false).await?;
    Ok(Json(UserView::from(&user_named(&s, &login).await?)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

async fn reset_password(
    State(s): S,
    Path(login): Path<String>,
    Json(b): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    s.accounts.reset_password(&login, &b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's roles from now on: those missing are granted, the others
/// revoked.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

async fn set_roles(
    State(s): S,
    Path(login): Path<String>,
    Json(b): Json<RolesBody>,
) -> ApiResult<impl IntoResponse> {
    let want = roles_of(&b.roles)?;
    if want.is_empty() {
        return Err(AccountError::NoRole.into());
    }
    let u = user_named(&s, &login).await?;
    for r in &want {
        if !u.roles.contains(r) {
            s.accounts.grant(&login, *r).await?;
        }
    }
    for r in &u.roles {
        if !want.contains(r) {
            s.accounts.revoke(&login, *r).await?;
        }
    }
    Ok(Json(UserView::from(&user_named(&s, &login).await?)))
}

async fn user_tokens(State(s): S, Path(login): Path<String>) -> ApiResult<impl IntoResponse> {
    let u = user_named(&s, &login).await?;
    Ok(Json(tokens_of(&s, &u).await?))
}

async fn create_user_token(
    State(s): S,
    Extension(c): Extension<Caller>,
    Path(login): Path<String>,
    Json(b): Json<NewTokenBody>,
) -> ApiResult<impl IntoResponse> {
    let u = user_named(&s, &login).await?;
    create_token_for(&s, &c, &u, b).await
}

async fn revoke_user_token(
    State(s): S,
    Path((login, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let u = user_named(&s, &login).await?;
    revoke_token_of(&s, &u, token_id(&id)?).await
}
