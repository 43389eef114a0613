"""Offline stacks shared by the suites that run the service end to end in this process.

moto's backends are shared by every moto server of a process, so each suite runs its own stack with
suffixed resource names. The Lambda handlers answer with whichever dependencies `wiring` holds, so a
suite installs its stack's while one of its tests runs and restores the previous ones after.
"""
from __future__ import annotations

from contextlib import contextmanager

from local.stack import OfflineStack
from mturk_decisions import wiring


@contextmanager
def suite_stack(suffix: str):
    """Start a stack without taking the handlers away from a stack another suite already serves."""
    previous = wiring.installed_dependencies()
    with OfflineStack(suffix=suffix) as running:
        if previous is not None:
            wiring.use(previous)
        yield running


@contextmanager
def serving(stack: OfflineStack):
    with wiring.installed(stack.dependencies):
        yield stack


@contextmanager
def serving_if_used(request):
    """For a directory's autouse fixture: its stack serves the handlers while a test that uses it runs."""
    if "stack" not in request.fixturenames:
        yield
        return
    with serving(request.getfixturevalue("stack")):
        yield

