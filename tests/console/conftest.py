"""Fixtures for `mturk-decisions console`: this suite's own offline stack, the command running as a requester
runs it (`--no-browser`, the demo principal's keys in its environment), and Debian's Chromium driven by
Playwright, one browser per module (never downloaded: `make browser` installs it).

As in tests/docs_ui, the stack is suffixed (`-console`) and `served` installs its dependencies in `wiring`
while a test runs: the Lambda handlers behind the local gateway answer in this process.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.docs_ui.conftest import CHROMIUM, CHROMIUM_ARGS, DocsProcess, requester_env, start_local_server
from tests.integration.conftest import SignedApi, api, seed, sim  # noqa: F401  (fixtures re-used)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
#: Playwright's waits, in milliseconds: generous deadlines, never fixed sleeps.
UI_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def stack():
    """This suite's offline stack (moto server, MTurk simulator, SigV4 gateway, worker trigger)."""
    from tests.stacks import suite_stack

    with suite_stack("-console") as running:
        yield running


@pytest.fixture()
def served(stack):
    from tests.stacks import serving

    with serving(stack):
        yield stack


def start_console(env: dict[str, str], folder: Path, *args: str) -> DocsProcess:
    """`mturk-decisions console --no-browser` in its own process; its first stdout line is the address."""
    return start_local_server("console", env, folder, *args)


@pytest.fixture(scope="module")
def console(stack, tmp_path_factory):
    """The console against this suite's gateway, as a requester would start it."""
    folder = tmp_path_factory.mktemp("console")
    running = start_console(requester_env(stack.gateway.url, folder), folder)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright: one browser for the module.

    Playwright's sync API runs one instance at a time in a process: this module's opens and closes before
    tests/docs_ui's session-wide one opens (pytest runs tests/ in name order: console < docs_ui)."""
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
def page(chromium, console):
    """A laptop-sized tab that opened the address the command printed (it holds the run's cookie)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        tab = context.new_page()
        tab.set_default_timeout(UI_TIMEOUT_MS)
        tab.goto(console.url)
        yield tab
    finally:
        context.close()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """tests/artifacts/console/NAME.png (ignored by git). The README's picture, docs/images/console.png, is a
    copy of readme_console.png: a test run never rewrites a committed file."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot), full_page=full_page)
    return shot
