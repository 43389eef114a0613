"""`mturk-decisions docs`: the API's Swagger UI on the requester's machine, with "Try it out" signed locally.

The page, Swagger UI's files (npm's `swagger-ui-dist`, pinned in package.json and installed by `npm ci`) and the
OpenAPI document are served by the command itself on 127.0.0.1: nothing is loaded from the network at run
time. The document's `servers` entry is rewritten to the local signing proxy (`http://127.0.0.1:PORT/api`),
which signs each "Try it out" request with the requester's own AWS credentials (the CLI's chain: --profile,
SSO, environment) and forwards it to the API; the keys never reach the browser. The proxy answers only the
browser that opened the address with this run's secret (see `local_proxy`).

The document: `--spec URL_OR_FILE`, else the committed `openapi.json` (shipped in this package, or at the root
of the project checkout), else `GET {api}/swagger?format=json`, signed.
"""
from __future__ import annotations

import copy
import html
import json
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import click
import requests

from mturk_decisions_cli.errors import ConfigError
from mturk_decisions_cli.local_proxy import (
    API_PREFIX,
    LocalSigningProxy,
    Page,
    PageResolver,
    Upstream,
    serve_until_stopped,
    started,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = "openapi.json"
#: The document shipped inside the package, if the build put it there; else the one at the project's root.
PACKAGED_SPEC = resources.files("mturk_decisions_cli").joinpath(SPEC_FILE)
SWAGGER_UI_DIR = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"
#: Local path -> (file of swagger-ui-dist, content type). Nothing else of the folder is served.
ASSETS = {
    "/swagger-ui/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "/swagger-ui/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "/favicon.png": ("favicon-32x32.png", "image/png"),
}

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>mturk-decisions API</title>
  <link rel="icon" type="image/png" href="/favicon.png">
  <link rel="stylesheet" href="/swagger-ui/swagger-ui.css">
  <style>
    body {{ margin: 0; }}
    .local-proxy-note {{ font: 14px sans-serif; padding: 10px 20px; background: #f3f6f9; border-bottom: 1px solid #d8dde3; }}
  </style>
</head>
<body>
  <div class="local-proxy-note" id="local-proxy-note">"Try it out" requests go to this machine, are signed here with
    your AWS credentials (region {region}) and are sent to <code>{api_url}</code>. Your keys never reach this page.</div>
  <div id="swagger-ui"></div>
  <script src="/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/docs-init.js"></script>
</body>
</html>
"""

# A file, not an inline script: the page's Content-Security-Policy allows scripts from this server only.
INIT_JS = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  layout: "BaseLayout",
  validatorUrl: null,
  displayRequestDuration: true
});
"""


def load_spec(source: str | None, client: Any) -> tuple[dict[str, Any], str]:
    """The OpenAPI document and where it came from (for the terminal)."""
    if source:
        if source.startswith(("http://", "https://")):
            return _spec_from_url(source, client), source
        return _spec_from_file(Path(source).expanduser()), source
    for candidate in (PACKAGED_SPEC, PROJECT_ROOT / SPEC_FILE):
        if candidate.is_file():
            return _spec_from_file(candidate), f"the committed {candidate}"
    response = client.request("GET", "/swagger", query={"format": "json"}).raise_for_error()
    return _checked(response.body, "GET /swagger?format=json"), f"{client.base_url}/swagger?format=json (signed)"


def _spec_from_file(path: Any) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Cannot read the OpenAPI document {path}: {error.strerror or error}") from None
    try:
        return _checked(json.loads(text), str(path))
    except json.JSONDecodeError as error:
        raise ConfigError(f"The OpenAPI document {path} is not valid JSON: {error.msg} (line {error.lineno}).") from None


def _spec_from_url(url: str, client: Any) -> dict[str, Any]:
    """A URL under the API is fetched signed (the API takes nothing else); any other, plainly."""
    base = client.base_url.rstrip("/")
    if url == base or url.startswith(base + "/"):
        path, _, query = url[len(base):].partition("?")
        response = client.request("GET", path or "/", query=dict(parse_qsl(query))).raise_for_error()
        return _checked(response.body, url)
    try:
        answer = requests.get(url, timeout=client.timeout, headers={"Accept": "application/json"})
        answer.raise_for_status()
        return _checked(answer.json(), url)
    except (requests.RequestException, ValueError) as error:
        raise ConfigError(f"Could not load the OpenAPI document from {url}: {error}") from None


def _checked(document: Any, where: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ConfigError(f"{where} is not an OpenAPI document (no `paths` object).")
    return document


def for_proxy(document: dict[str, Any], host: str, api_url: str) -> dict[str, Any]:
    """The document with its only server the local signing proxy, on the host the browser used."""
    rewritten = copy.deepcopy(document)
    rewritten["servers"] = [{"url": f"http://{host}{API_PREFIX}",
                             "description": f"Signed on this machine with your AWS credentials, sent to {api_url}"}]
    return rewritten


def swagger_ui_assets(folder: Path | None = None) -> dict[str, Page]:
    folder = folder or SWAGGER_UI_DIR
    missing = [name for name, _ in ASSETS.values() if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"Swagger UI's files are not installed ({folder} lacks {', '.join(missing)}).",
                          hint="Run `make` (or `npm ci`) in the mturk-decisions checkout: it installs the pinned "
                               "swagger-ui-dist from package.json.")
    return {path: Page((folder / name).read_bytes(), content_type) for path, (name, content_type) in ASSETS.items()}


def page_resolver(document: dict[str, Any], api_url: str, region: str, assets: dict[str, Page]) -> PageResolver:
    """What the proxy serves besides /api/: the page, its script, Swagger UI's files and the document."""
    index = Page(INDEX_HTML.format(api_url=html.escape(api_url), region=html.escape(region)).encode(),
                 "text/html; charset=utf-8")
    init = Page(INIT_JS.encode(), "text/javascript; charset=utf-8")

    def resolve(path: str, host: str) -> Page | None:
        if path in ("/", "/index.html"):
            return index
        if path == "/docs-init.js":
            return init
        if path == "/openapi.json":
            return Page(json.dumps(for_proxy(document, host, api_url)).encode(), "application/json")
        return assets.get(path)

    return resolve


@click.command("docs", short_help="The API's Swagger UI in your browser; Try it out signed on this machine.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default="a free port",
              help="Port on 127.0.0.1 to serve on.")
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening the browser.")
@click.option("--spec", metavar="URL_OR_FILE",
              help="The OpenAPI document to show. Default: the committed openapi.json, else the API's "
                   "GET /swagger?format=json (signed).")
@click.pass_obj
def docs(app: Any, port: int, no_browser: bool, spec: str | None) -> None:
    """Serve the API's Swagger UI on 127.0.0.1 until Ctrl-C.

    "Try it out" goes through a signing proxy in the same server: it signs each request with your AWS
    credentials (--profile, SSO, environment) and sends it to the API. Your keys stay in this process, and
    the proxy answers only the browser that opened the printed address (it carries a secret of this run).
    """
    client = app.client
    document, source = load_spec(spec, client)
    assets = swagger_ui_assets()
    upstream = Upstream(client.base_url, client.credentials, client.region, timeout=client.timeout)
    resolve = page_resolver(document, client.base_url, client.region, assets)
    proxy = started(lambda port: LocalSigningProxy(upstream, resolve, port=port,
                                                   log=lambda line: click.echo(line, err=True)), port)
    serve_until_stopped(proxy, json_mode=getattr(app, "json_mode", False),
                        facts={"spec": source, "apiUrl": client.base_url},
                        banner=f"Swagger UI of {client.base_url} (document: {source}).\n\"Try it out\" is signed on "
                               f"this machine for {client.region} and sent to the API. Ctrl-C stops.",
                        open_browser=not no_browser)
