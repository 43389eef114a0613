"""Fixtures for `mturk-decisions docs` and its signing proxy: an offline stack of this suite's own, the command
running as a requester runs it, and Debian's Chromium driven by Playwright (installed by `make browser`).

The stack is suffixed (`-docs`): moto's backends are shared by every moto server of a process, and the
Lambda handlers answer with whichever dependencies `wiring` holds, so `served` installs this stack's
while a test runs and restores the previous ones after (as the CLI suite does).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local.stack import DEMO_PRINCIPAL
from tests.integration.conftest import api, seed, sim  # noqa: F401  (fixtures re-used)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
#: Variables of the machine running the tests that would change which credentials or API the command uses.
_AWS_VARIABLES = ("MTURK_DECISIONS_API_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                  "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "XDG_CONFIG_HOME", "BROWSER")


@pytest.fixture(scope="session")
def stack():
    """This suite's offline stack (moto server, MTurk simulator, SigV4 gateway, worker trigger)."""
    from tests.stacks import suite_stack

    with suite_stack("-docs") as running:
        yield running


@pytest.fixture()
def served(stack):
    from tests.stacks import serving

    with serving(stack):
        yield stack


def requester_env(api_url: str, home: Path) -> dict[str, str]:
    """A requester's shell: the API URL and the demo principal's keys in the environment, nothing else of AWS."""
    env = {name: value for name, value in os.environ.items() if name not in _AWS_VARIABLES}
    env.update({
        "MTURK_DECISIONS_API_URL": api_url,
        "AWS_ACCESS_KEY_ID": DEMO_PRINCIPAL.access_key_id,
        "AWS_SECRET_ACCESS_KEY": DEMO_PRINCIPAL.secret_access_key,
        "AWS_REGION": "us-east-1",
        "MTURK_DECISIONS_CONFIG": str(home / "config.json"),
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def cli_command() -> list[str]:
    """The installed console script `mturk-decisions`, else the module."""
    script = Path(sys.executable).parent / "mturk-decisions"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mturk_decisions_cli.main"]


@dataclass
class DocsProcess:
    """`mturk-decisions docs --no-browser ...` in its own process; `url` is the address it printed."""

    process: subprocess.Popen
    stderr_path: Path
    url: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.url.split("/?", 1)[0]

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def read_url(self, timeout: float = 20.0) -> str:
        """The first stdout line, polled with a deadline (the command prints it once it listens)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                self.url = self.process.stdout.readline().strip()
                return self.url
            if self.process.poll() is not None:
                break
        raise AssertionError(f"`mturk-decisions docs` printed no address within {timeout:.0f} s; "
                             f"exit {self.process.poll()}; stderr: {self.stderr()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


def start_docs(env: dict[str, str], folder: Path, *args: str) -> DocsProcess:
    """`mturk-decisions docs --no-browser` in its own process; its first stdout line is the address."""
    return start_local_server("docs", env, folder, *args)


def start_local_server(command: str, env: dict[str, str], folder: Path, *args: str) -> DocsProcess:
    """`mturk-decisions COMMAND --no-browser` (docs, console) in its own process, once it printed its address."""
    stderr_path = folder / f"{command}-stderr.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen([*cli_command(), command, "--no-browser", *args], env=env,
                                   stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True)
    running = DocsProcess(process, stderr_path)
    try:
        running.read_url()
    except AssertionError:
        running.stop()
        raise
    return running


@pytest.fixture(scope="module")
def docs(stack, tmp_path_factory):
    """`mturk-decisions docs --no-browser` against this suite's gateway, as a requester would run it."""
    folder = tmp_path_factory.mktemp("docs")
    running = start_docs(requester_env(stack.gateway.url, folder), folder)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium (`make browser` installs it), headless, driven by Playwright; never downloaded."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: `make browser` installs Debian's chromium."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()
