"""Fixtures of the local-runtime tests: process execution environments of the small handlers in
`tests/local/handlers.py`, and a check that no environment outlives its test."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from local.runtime import ProcessEnvironments
from tests.waiting import wait_until  # noqa: F401  (the local tests import it from here)

HANDLERS = "tests.local.handlers"


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture()
def environments() -> Iterator[Callable[..., ProcessEnvironments]]:
    """`environments("report", concurrency=2, **env)`: process environments of a test handler, closed after
    the test; the test fails if one of their processes is still running then."""
    made: list[ProcessEnvironments] = []

    def make(handler: str, concurrency: int = 10, timeout_seconds: float = 30, **env: str) -> ProcessEnvironments:
        runtime = ProcessEnvironments(f"{HANDLERS}:{handler}", {**os.environ, "LOCAL_LAMBDA_LOG": "-", **env},
                                      concurrency=concurrency, function_name=f"test-{handler}",
                                      timeout_seconds=timeout_seconds)
        made.append(runtime)
        return runtime

    yield make
    pids = [pid for runtime in made for pid in runtime.pids]
    for runtime in made:
        runtime.close()
    assert not [pid for pid in pids if alive(pid)], "an environment outlived close()"
