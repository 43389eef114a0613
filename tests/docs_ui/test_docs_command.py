"""`mturk-decisions docs` without a browser: which OpenAPI document it serves, how it rewrites its server to
the proxy, and its errors (exit code 6, a message and a hint)."""
from __future__ import annotations

import json
import socket

import pytest
import requests
from click.testing import CliRunner

from local.stack import DEMO_PRINCIPAL
from mturk_decisions_cli import docs_server
from mturk_decisions_cli import main as cli_main
from mturk_decisions_cli.client import ApiResponse
from tests.docs_ui.conftest import requester_env, start_docs

DOCUMENT = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "servers": [{"url": "/v1"}],
            "paths": {"/decisions": {"get": {"responses": {"200": {"description": "ok"}}}}}}


class RecordingClient:
    """Stands in for ApiClient where the document is looked up: records the calls, answers the API's document."""

    base_url = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
    timeout = 5.0

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def request(self, method: str, path: str, query=None, **_: object) -> ApiResponse:
        self.calls.append((method, path, dict(query or {})))
        return ApiResponse(200, {**DOCUMENT, "info": {"title": "from the API", "version": "1"}})


@pytest.fixture()
def no_committed_spec(monkeypatch, tmp_path):
    monkeypatch.setattr(docs_server, "PACKAGED_SPEC", tmp_path / "packaged" / "openapi.json")
    monkeypatch.setattr(docs_server, "PROJECT_ROOT", tmp_path)
    return tmp_path


def test_given_a_committed_document_when_no_spec_is_given_then_it_is_used_and_the_api_is_not_asked(no_committed_spec):
    # Given an openapi.json at the project's root
    (no_committed_spec / "openapi.json").write_text(json.dumps(DOCUMENT))
    client = RecordingClient()
    # When the document is looked up without --spec
    document, source = docs_server.load_spec(None, client)
    # Then the committed one is served, and nothing was fetched
    assert document == DOCUMENT and "openapi.json" in source
    assert client.calls == []


def test_given_no_committed_document_when_no_spec_is_given_then_the_apis_is_fetched_signed(no_committed_spec):
    # Given no committed document
    client = RecordingClient()
    # When the document is looked up without --spec
    document, source = docs_server.load_spec(None, client)
    # Then the API's own is fetched through the signing client
    assert client.calls == [("GET", "/swagger", {"format": "json"})]
    assert document["info"]["title"] == "from the API" and "(signed)" in source


def test_given_a_spec_url_under_the_api_when_loaded_then_it_is_fetched_signed(no_committed_spec):
    # Given --spec naming the API's own document
    client = RecordingClient()
    # When it is loaded
    docs_server.load_spec(client.base_url + "/swagger?format=json", client)
    # Then it went through the signing client (the API answers nothing unsigned)
    assert client.calls == [("GET", "/swagger", {"format": "json"})]


def test_given_a_document_when_served_for_the_proxy_then_its_only_server_is_the_proxy():
    # Given a document whose server is the API's stage
    # When it is rewritten for a browser on localhost
    rewritten = docs_server.for_proxy(DOCUMENT, "localhost:8123", "https://api.example/v1")
    # Then its only server is the proxy on that host, and the original is untouched
    assert [server["url"] for server in rewritten["servers"]] == ["http://localhost:8123/api"]
    assert DOCUMENT["servers"] == [{"url": "/v1"}]


def test_given_spec_file_when_the_command_runs_then_it_serves_that_document_rewritten(stack, tmp_path):
    # Given a document in a file
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(DOCUMENT))
    # When `mturk-decisions docs --no-browser --spec FILE` runs and its address is opened
    running = start_docs(requester_env(stack.gateway.url, tmp_path), tmp_path, "--spec", str(spec))
    try:
        session = requests.Session()
        opened = session.get(running.url)
        served = session.get(running.origin + "/openapi.json").json()
    finally:
        running.stop()
    # Then the page and that document are served, with the proxy as its server
    assert opened.status_code == 200 and "swagger-ui-bundle.js" in opened.text
    assert served["paths"] == DOCUMENT["paths"]
    assert served["servers"][0]["url"] == running.origin + "/api"
    assert DEMO_PRINCIPAL.secret_access_key not in running.stderr() + opened.text


@pytest.fixture()
def requester(monkeypatch, tmp_path):
    """The CLI in this process, configured as a requester's shell would be."""
    for name, value in requester_env("http://127.0.0.1:9/v1", tmp_path).items():
        monkeypatch.setenv(name, value)

    def run(*args: str):
        return CliRunner().invoke(cli_main.cli, list(args), prog_name="mturk-decisions")

    return run


def test_given_swagger_ui_not_installed_when_docs_runs_then_exit_6_with_how_to_install(requester, tmp_path,
                                                                                         monkeypatch):
    # Given a checkout whose node_modules lacks swagger-ui-dist, and a document in a file
    monkeypatch.setattr(docs_server, "SWAGGER_UI_DIR", tmp_path / "node_modules" / "swagger-ui-dist")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(DOCUMENT))
    # When the command runs
    result = requester("docs", "--no-browser", "--spec", str(spec))
    # Then it stops with the configuration exit code and says how to install them
    assert result.exit_code == 6
    assert "swagger-ui-dist" in result.output and "npm ci" in result.output


def test_given_a_busy_port_when_docs_runs_on_it_then_exit_6(requester, tmp_path):
    # Given a port already taken on 127.0.0.1, and a document in a file
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(DOCUMENT))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        # When the command is asked to serve on it
        result = requester("docs", "--no-browser", "--spec", str(spec), "--port", str(busy.getsockname()[1]))
    # Then it stops with the configuration exit code and suggests another port
    assert result.exit_code == 6 and "--port" in result.output


def test_given_a_spec_file_that_is_not_openapi_when_docs_runs_then_exit_6(requester, tmp_path):
    # Given a JSON file without paths
    spec = tmp_path / "spec.json"
    spec.write_text("[]")
    # When the command runs with it
    result = requester("docs", "--no-browser", "--spec", str(spec))
    # Then it stops with the configuration exit code, naming the file
    assert result.exit_code == 6 and "not an OpenAPI document" in result.output
