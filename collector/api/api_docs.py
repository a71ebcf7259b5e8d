"""`GET /docs`: Swagger UI served from the collector itself, so the API page works offline.

FastAPI's own `/docs` loads Swagger UI's script and stylesheet from a CDN (fastapi/openapi/docs.py,
`swagger_js_url` defaults to cdn.jsdelivr.net), so on an air-gapped host, or a laptop on a train,
the page was blank. The assets come from the `fastapi-swagger` package (a Swagger UI 5
distribution, which reads the OpenAPI 3.1 documents FastAPI writes) and are served below
`/docs/assets/`; the HTML is still FastAPI's `get_swagger_ui_html`. No token: like `/openapi.json`
the page holds no data, only the API's shape.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

ASSETS = Path(str(files("fastapi_swagger") / "resources"))
# Only these files are served: a name from the URL never reaches the filesystem otherwise.
MEDIA_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
               "favicon-32x32.png": "image/png"}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="asrwatch collector API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js", swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png")


@router.get("/docs/assets/{name}")
def swagger_asset(name: str) -> FileResponse:
    media_type = MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(404, f"name: no such asset {name!r}")
    # Assets change only with the package: a day in caches saves the 1.5 MB script per visit.
    return FileResponse(ASSETS / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
