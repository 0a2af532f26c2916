//! The OpenAPI document (`/openapi.json`), Swagger UI (`/docs`) and ReDoc (`/redoc`). Both UIs'
//! assets are compiled into the binary, so the docs work with no internet access.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_swagger_ui::SwaggerUi;

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
         `{\"detail\": ..., \"code\": ...}`."
            .into(),
    );
    let components = api.components.get_or_insert_with(Default::default);
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
