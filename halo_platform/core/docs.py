"""The service's browser pages, Swagger UI at `/docs` and GraphiQL at `/graphql`, served entirely
from this package: their scripts and stylesheets are vendored under `static/` (VENDORED.md names
the npm packages, versions and checksums), so the pages work where the service runs without
internet access and no request leaves for a CDN."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"

# GraphiQL 5 ships ES modules only; 3.x is the last line with a build that runs from plain
# <script> tags (React 18's UMD builds as globals), so no bundler is needed.
_GRAPHIQL_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>halo_platform GraphQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/graphiql/graphiql.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading…</div>
<script src="{static}/react/react.production.min.js"></script>
<script src="{static}/react/react-dom.production.min.js"></script>
<script src="{static}/graphiql/graphiql.min.js"></script>
<script>
const endpoint = {endpoint};

// Our own fetcher rather than GraphiQL.createFetcher: it sends the session cookie explicitly and
// merges the headers typed into the headers editor (an `Authorization: Bearer ...` key) as they are.
async function fetcher(params, options) {{
  const response = await fetch(endpoint, {{
    method: "POST",
    credentials: "same-origin",
    headers: {{"Content-Type": "application/json", "Accept": "application/json", ...(options && options.headers)}},
    body: JSON.stringify(params),
  }});
  const text = await response.text();
  try {{
    return JSON.parse(text);
  }} catch (error) {{
    return {{errors: [{{message: `HTTP ${{response.status}}: ${{text}}`}}]}};
  }}
}}

// GraphiQL's own storage (localStorage, its `graphiql:` keys) but for the headers: its history
// (`graphiql:queries`, `graphiql:favorites`) kept each query with its headers whatever
// shouldPersistHeaders says, so a key typed as `Authorization: Bearer ...` stayed in the browser in
// clear for ever, past a sign-out. The history keeps its queries; their headers stay with the page.
function withoutHeaders(value) {{
  try {{
    const kept = JSON.parse(value);
    if (kept && Array.isArray(kept.queries)) {{
      return JSON.stringify({{...kept, queries: kept.queries.map(({{headers, ...query}}) => query)}});
    }}
  }} catch (error) {{}}  // not JSON: no history
  return value;
}}
const storage = {{
  getItem: (key) => localStorage.getItem(key),
  setItem: (key, value) => localStorage.setItem(key, withoutHeaders(value)),
  removeItem: (key) => localStorage.removeItem(key),
  get length() {{ return Object.keys(localStorage).filter((key) => key.startsWith("graphiql:")).length; }},
  clear() {{ Object.keys(localStorage).filter((key) => key.startsWith("graphiql:")).forEach((key) => localStorage.removeItem(key)); }},
}};

ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {{
    fetcher: fetcher,
    storage: storage,
    shouldPersistHeaders: false,  // said, not left to the default: it also hides the settings' switch that stores them
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: "headers",
  }}),
);
</script>
</body>
</html>
"""


def mount_static(app: FastAPI) -> None:
    """Serve the vendored assets at `/static` (route name "static")."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")


def swagger_html(openapi_url: str = "/openapi.json", title: str = "halo_platform API") -> HTMLResponse:
    """Swagger UI over `openapi_url`, loading only the vendored assets.

    A bearer key pasted into "Authorize" lives as long as the page: no `persistAuthorization`, which
    kept it in clear in the browser's localStorage for ever, past a sign-out, for whoever opened
    /docs next in that browser. `validatorUrl: None` turns off the badge that would send the
    document's URL to validator.swagger.io."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{STATIC_URL}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC_URL}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{STATIC_URL}/swagger-ui/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


def graphiql_html(endpoint: str = "/graphql") -> str:
    """GraphiQL querying `endpoint` (POST, same-origin credentials), loading only the vendored
    assets, with the headers editor open so a bearer key can be pasted into it; the browser keeps
    no headers (neither the editor's nor those of the query history)."""
    # json.dumps makes a JS string literal; escaping "<" keeps "</script>" in it from closing the tag
    return _GRAPHIQL_PAGE.format(static=STATIC_URL, endpoint=json.dumps(endpoint).replace("<", "\\u003c"))
