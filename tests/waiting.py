"""Polling with a deadline: tests wait for what they need, never for a fixed time."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], what: str = "", timeout: float = 10.0, every: float = 0.02) -> Any:
    """Poll `condition` until it is truthy and answer it; fail after `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        answer = condition()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what or condition}")
        time.sleep(every)
