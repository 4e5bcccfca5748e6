//! The OpenAPI document's frame: title, security scheme, shared schemas.
//! Paths are collected from the handlers' own `#[utoipa::path]` annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Countersign",
        description = "Two-person exception approval for customer service: a frontline agent files an \
                       out-of-policy resolution, a second agent co-signs, and two customer-facing people \
                       agreeing approves it. Errors are RFC 9457 problem documents.",
    ),
    components(schemas(Problem)),
    modifiers(&BearerToken),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "people", description = "Employees, roles and API tokens (admin)"),
        (name = "integrations", description = "Helpdesk integrations (admin)"),
        (name = "proposals", description = "Filing, co-signing, declining, revising, withdrawing, outcomes"),
        (name = "reviews", description = "Manager review of decided proposals"),
        (name = "audit", description = "The hash-chained audit log"),
    )
)]
pub struct ApiDoc;

/// Every `/v1` endpoint takes `Authorization: Bearer <token>`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cs_…")
                    .build(),
            ),
        );
    }
}
