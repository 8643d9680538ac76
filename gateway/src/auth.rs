//! Bearer tokens with roles.
//!
//! A route declares the [`Access`] it needs; a role grants a set of accesses:
//!
//! | role | read (streams, status, pages' data) | control (start tails, apply, replay) | ingest (POST reports) |
//! | --- | --- | --- | --- |
//! | viewer | yes | | |
//! | operator | yes | yes | |
//! | controller | | | yes |
//!
//! A request without a valid token gets 401; a valid token whose role lacks the access gets 403.
//! With no tokens configured every request is allowed, which `GatewayConfig::validate` permits
//! only on a loopback bind. Browsers' `EventSource` cannot send headers, so the token is also
//! read from the `access_token` query parameter.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::config::TokenConfig;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Controller,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Control,
    Ingest,
}

impl Role {
    pub fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Role::Viewer, Access::Read)
                | (Role::Operator, Access::Read | Access::Control)
                | (Role::Controller, Access::Ingest)
        )
    }
}

/// Who made a request, put in the request's extensions by [`require`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None` when authentication is off.
    pub name: Option<String>,
    pub role: Option<Role>,
    /// The customer a controller token reports as.
    pub customer: Option<String>,
}

/// The token table.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Arc<HashMap<String, TokenConfig>>,
}

impl Auth {
    pub fn new(tokens: &[TokenConfig]) -> Self {
        let map = tokens.iter().map(|t| (t.token.clone(), t.clone())).collect();
        Self { tokens: Arc::new(map) }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Decides whether a request bearing `token` may have `access`.
    pub fn check(&self, token: Option<&str>, access: Access) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller { name: None, role: None, customer: None });
        }
        let token = token.ok_or(ApiError::Unauthorized("a bearer token is required"))?;
        let t = self.tokens.get(token).ok_or(ApiError::Unauthorized("the token is not valid"))?;
        if !t.role.grants(access) {
            return Err(ApiError::Forbidden { role: t.role, access });
        }
        Ok(Caller { name: Some(t.name.clone()), role: Some(t.role), customer: t.customer.clone() })
    }
}

fn bearer(req: &Request) -> Option<&str> {
    if let Some(value) = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return value.strip_prefix("Bearer ").map(str::trim);
    }
    req.uri().query()?.split('&').find_map(|pair| pair.strip_prefix("access_token="))
}

/// Middleware: lets the request through only with `access`. Used as
/// `route_layer(from_fn_with_state((state.auth.clone(), Access::Read), auth::require))`.
pub async fn require(
    State((auth, access)): State<(Auth, Access)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = auth.check(bearer(&req), access)?;
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_table_says() {
        assert!(Role::Viewer.grants(Access::Read) && !Role::Viewer.grants(Access::Control));
        assert!(Role::Operator.grants(Access::Control) && !Role::Operator.grants(Access::Ingest));
        assert!(Role::Controller.grants(Access::Ingest) && !Role::Controller.grants(Access::Read));
    }
}
