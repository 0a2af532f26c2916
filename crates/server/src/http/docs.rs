//! The OpenAPI document (`/openapi.json`), Swagger UI (`/docs`) and ReDoc (`/redoc`). Both UIs'
//! assets are compiled into the binary, so the docs work with no internet access.

use axum::Router;
use axum::http::Method;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, Header, KnownFormat, ObjectBuilder, OpenApi, Ref, RefOr, Response,
    ResponseBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ErrorBody;
use crate::limits::{Counts, Rule};

const REDOC_JS: &str = include_str!("../../assets/redoc/redoc.standalone.js");
const REDOC_PAGE: &str = r#"<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8"/>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>missive API</title>
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="/redoc/redoc.standalone.js"></script>
</body>
</html>"#;

/// The generated document, completed with what the route annotations cannot say.
pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info.title = "missive".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some(
        "Self-hostable messaging. Two compatibility faces (the Message Service and Chat \
         Service APIs) share one user and message store. Every error is \
         `{\"detail\": ..., \"code\": ...}`. Rate limits are documented with their default \
         values (`MISSIVE_RATE_LIMITS` changes them)."
            .into(),
    );
    add_common_errors(&mut api);
    let components = api.components.get_or_insert_with(Default::default);
    add_shared_responses(components);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    api
}

/// The 422 body schema of the compatibility faces' routes. One component, so that a change
/// of that shape is made here once; for now it is the body every route uses.
const COMPAT_VALIDATION_ERROR: &str = "CompatValidationError";

/// FastAPI's 422 body, as the compatibility faces send it (see `compat::fastapi`): `detail`
/// lists one entry per refused value, never the value itself.
fn compat_validation_schema() -> RefOr<Schema> {
    let schema = serde_json::json!({
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "loc", "msg"],
                    "properties": {
                        "type": {"type": "string", "description": "pydantic's error type, e.g. `missing`"},
                        "loc": {
                            "type": "array",
                            "items": {"type": ["string", "integer"]},
                            "description": "Where: `body`, `query` or `path`, then the field"
                        },
                        "msg": {"type": "string"},
                        "ctx": {"type": "object", "description": "The rule's limits, e.g. `min_length`"}
                    },
                    "additionalProperties": false
                }
            },
            "code": {"type": "string", "description": "Always `validation_failed`"}
        },
        "additionalProperties": false
    });
    serde_json::from_value(schema)
        .unwrap_or_else(|_| Ref::from_schema_name(ErrorBody::name()).into())
}

/// Adds to every operation the error statuses that follow from what it does rather than from
/// its handler's logic: reading a JSON body (400, 413, 415, 422), taking path parameters (400),
/// a bearer token (401) or query or header parameters (422), being rate-limited (429), and
/// being a request at all (503: the database is unreachable, or the request timed out). A
/// status the handler documents itself is left as it is.
fn add_common_errors(api: &mut OpenApi) {
    for (path, item) in &mut api.paths.paths {
        let compat = !path.starts_with("/v1/");
        for (_, operation) in operations(item) {
            let reads_body = operation.request_body.is_some();
            let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let parameters_in = |place: ParameterIn| {
                let mut parameters = operation.parameters.iter().flatten();
                parameters
                    .any(|parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == place))
            };
            let has_path = parameters_in(ParameterIn::Path);
            let has_query = parameters_in(ParameterIn::Query) || parameters_in(ParameterIn::Header);
            let mut common = Vec::new();
            // Axum refuses a path segment that is not UTF-8 before any handler runs.
            if reads_body || has_path {
                common.push(("400", "BadRequest"));
            }
            if reads_body {
                common.push(("413", "PayloadTooLarge"));
                // The faces read a body of any declared type as JSON, as FastAPI does.
                if !compat {
                    common.push(("415", "UnsupportedMediaType"));
                }
            }
            if authenticated {
                common.push(("401", "Unauthorized"));
            }
            if reads_body || has_query {
                let validation = if compat {
                    "CompatValidationFailed"
                } else {
                    "ValidationFailed"
                };
                common.push(("422", validation));
            }
            common.push(("503", "ServiceUnavailable"));
            let responses = &mut operation.responses.responses;
            for (status, shared) in common {
                responses
                    .entry(status.into())
                    .or_insert_with(|| Ref::from_response_name(shared).into());
            }
        }
    }
}

pub(super) fn operations(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::POST, &mut item.post),
        (Method::PUT, &mut item.put),
        (Method::PATCH, &mut item.patch),
        (Method::DELETE, &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
}

/// The responses `add_common_errors` refers to, and the schemas they need.
fn add_shared_responses(components: &mut Components) {
    let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    ErrorBody::schemas(&mut schemas);
    schemas.push((COMPAT_VALIDATION_ERROR.into(), compat_validation_schema()));
    components.schemas.extend(schemas);
    let error_body = || Ref::from_schema_name(ErrorBody::name());
    let shared = [
        (
            "BadRequest",
            "The body could not be read (`unreadable_body`), is not valid JSON \
             (`malformed_json`, `/v1` only: the faces answer 422), or a path segment is not \
             UTF-8 (`bad_request`)",
            error_body(),
        ),
        (
            "Unauthorized",
            "No bearer token (`not_authenticated`), or an invalid one or one whose session has \
             ended (`invalid_token`)",
            error_body(),
        ),
        (
            "PayloadTooLarge",
            "The body is over `MISSIVE_MAX_BODY_BYTES` (`payload_too_large`)",
            error_body(),
        ),
        (
            "UnsupportedMediaType",
            "The body is not sent as `Content-Type: application/json` (`unsupported_media_type`)",
            error_body(),
        ),
        (
            "ValidationFailed",
            "A field or parameter is missing, of the wrong type or out of range \
             (`validation_failed`, with `errors`)",
            error_body(),
        ),
        (
            "CompatValidationFailed",
            "A field or parameter is missing, of the wrong type or out of range",
            Ref::from_schema_name(COMPAT_VALIDATION_ERROR),
        ),
        (
            "ServiceUnavailable",
            "The database is unreachable or the request timed out (`service_unavailable`); \
             retry later",
            error_body(),
        ),
    ];
    for (name, description, schema) in shared {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build();
        components.responses.insert(name.into(), response.into());
    }
}

/// The 429 of a rate-limited route, with its rule's name and default limit.
pub(super) fn rate_limited(rules: &[&Rule]) -> Response {
    let seconds = |description: &str| {
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(0));
        let mut header = Header::new(schema);
        header.description = Some(description.into());
        header
    };
    ResponseBuilder::new()
        .description(format!(
            "Rate limit {} used up (`rate_limited`). Every response of this route carries the \
             `RateLimit-*` headers while limits are on.",
            rules
                .iter()
                .map(|rule| format!(
                    "`{}` ({} {}per {} s by default)",
                    rule.name,
                    rule.limit,
                    match rule.counts {
                        Counts::Every => "",
                        Counts::Failures => "failed logins ",
                    },
                    rule.window.as_secs()
                ))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .header(
            "Retry-After",
            seconds("Seconds until a request can succeed"),
        )
        .header("RateLimit-Limit", seconds("Requests allowed per window"))
        .header(
            "RateLimit-Remaining",
            seconds("Requests left in the window"),
        )
        .header("RateLimit-Reset", seconds("Seconds until a slot frees"))
        .build()
}

pub fn routes<S: Clone + Send + Sync + 'static>(api: OpenApi) -> Router<S> {
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api))
        .route("/redoc", get(|| async { Html(REDOC_PAGE) }))
        .route(
            "/redoc/redoc.standalone.js",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "application/javascript; charset=utf-8"),
                        (CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    REDOC_JS,
                )
                    .into_response()
            }),
        )
}
