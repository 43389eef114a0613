"""Fixtures for the CLI tests: a fake API client for unit tests, and the offline stack for end to end runs.

The end-to-end fixtures `sim`, `seed` and `api` are the integration suite's (tests/integration/conftest.py),
re-used as they are. `stack` is this directory's own session stack, with suffixed resource names: moto's
backends are shared by every moto server of a process, so a second stack under the same names would
collide with the integration suite's when both run in one session. The Lambda handler answers with
whichever dependencies `wiring` holds, so `cli_env` installs this stack's for the duration of a CLI test
and restores the previous ones after: the two suites can share a process in any order (xdist included).
"""
from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner

from local.stack import DEMO_PRINCIPAL
from mturk_decisions_cli import main as cli_main
from mturk_decisions_cli.app import App
from mturk_decisions_cli.client import ApiResponse
from mturk_decisions_cli.commands import watching
from tests.integration.conftest import api, seed, sim  # noqa: F401  (fixtures re-used)

#: A fake key pair for unit tests (not an AWS key format).
FAKE_KEY = ("FAKECLIKEY0000000001", "fake-cli-secret-not-a-real-key")


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    data: bytes | None = None
    content_type: str | None = None
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    retry: bool | None = None

    @property
    def dry_run(self) -> bool:
        return str(self.query.get("dryRun", "")).lower() == "true"


class FakeApi:
    """Stands in for ApiClient: records every call and answers from a routing function or a script.

    `on(method, path, *responses)` queues answers for a route (the last one repeats); `path` may end with
    `*` to match a prefix. Answers are `(status, body)` or `(status, body, headers)` or a callable(Call).
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._routes: list[tuple[str, str, Callable[[Call], bool] | None, list[Any]]] = []

    def on(self, method: str, path: str, *responses: Any, when: Callable[[Call], bool] | None = None) -> FakeApi:
        self._routes.append((method.upper(), path, when, list(responses)))
        return self

    def request(self, method, path, json=None, data=None, content_type=None, query=None, headers=None, retry=None):
        call = Call(method.upper(), path, json, data, content_type,
                    {k: v for k, v in (query or {}).items() if v is not None}, dict(headers or {}), retry)
        self.calls.append(call)
        for route_method, route_path, when, responses in self._routes:
            matches = path.startswith(route_path[:-1]) if route_path.endswith("*") else path == route_path
            if route_method == call.method and matches and (when is None or when(call)):
                answer = responses.pop(0) if len(responses) > 1 else responses[0]
                if callable(answer):
                    answer = answer(call)
                status, body, *rest = answer
                return ApiResponse(status, body, rest[0] if rest else {})
        return ApiResponse(404, {"code": "NOT_FOUND", "message": f"No route {method} {path} (fake)"})

    def calls_to(self, method: str, path_prefix: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method.upper() and c.path.startswith(path_prefix)]


@pytest.fixture(scope="session")
def stack():
    """One offline stack for the CLI tests (moto server, MTurk simulator, SigV4 gateway, SQS worker trigger)."""
    from tests.stacks import suite_stack

    with suite_stack("-cli") as running:
        yield running


@pytest.fixture()
def fake_api() -> FakeApi:
    return FakeApi()


@pytest.fixture(autouse=True)
def cli_defaults(monkeypatch):
    """Watching a batch polls every few hundredths of a second, and output is 200 columns wide whatever
    the terminal running the tests (rich honours COLUMNS when stdout is not a terminal)."""
    monkeypatch.setattr(watching, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(watching, "POLL_MAX_SECONDS", 0.2)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return jsonlib.loads(self.stdout)


@pytest.fixture()
def run(fake_api) -> Callable[..., Result]:
    """Run the CLI with the fake API client: run("reject", "ID", "--feedback", "x", input="y\\n")."""

    def _run(*args: str, input: str | bytes | None = None, client: Any = None) -> Result:
        runner = CliRunner()
        seam = App(client_factory=lambda _app: client or fake_api)  # the CLI's public seam for a fake API
        outcome = runner.invoke(cli_main.cli, list(args), obj=seam, input=input, prog_name="mturk-decisions")
        return Result(outcome.exit_code, outcome.stdout, outcome.stderr, outcome.exception)

    return _run


@pytest.fixture()
def isolated_env(monkeypatch, tmp_path):
    """No API URL, region, profile or AWS credentials from the machine running the tests."""
    for name in ("MTURK_DECISIONS_API_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "XDG_CONFIG_HOME",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MTURK_DECISIONS_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


@pytest.fixture()
def cli_env(stack, isolated_env, monkeypatch):
    """The CLI pointed at the offline stack and signing with the demo caller's key, as a requester would."""
    from tests.stacks import serving

    monkeypatch.setenv("MTURK_DECISIONS_API_URL", stack.gateway.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEMO_PRINCIPAL.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEMO_PRINCIPAL.secret_access_key)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with serving(stack):
        yield stack


def _without_lambda_logs(captured: str) -> str:
    """The Lambda handler runs in this process and prints its JSON logs and EMF metrics to whatever
    sys.stdout is, which CliRunner swaps for the CLI's. Drop those one-line records; the CLI never
    prints a one-line JSON object (its --json output is indented)."""
    kept = []
    for line in captured.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                record = jsonlib.loads(stripped)
            except ValueError:
                record = None
            if isinstance(record, dict) and ("_aws" in record or {"level", "service"} <= set(record)):
                continue
        kept.append(line)
    return "".join(kept)


@pytest.fixture()
def cli(cli_env) -> Callable[..., Result]:
    """Run the real CLI (real client, real signing) against the offline stack."""

    def _run(*args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        outcome = runner.invoke(cli_main.cli, ["--retries", "0", *args], input=input, prog_name="mturk-decisions")
        return Result(outcome.exit_code, _without_lambda_logs(outcome.stdout), _without_lambda_logs(outcome.stderr),
                      outcome.exception)

    return _run
