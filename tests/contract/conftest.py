"""Fixtures of the API contract tests: the integration suite's `api`, `sim` and `seed` over this directory's
own offline stack (suffixed resource names: moto's backends are shared by every stack of a process)."""
from __future__ import annotations

import pytest

from tests.integration.conftest import SignedApi, api, seed, sim  # noqa: F401  (fixtures re-used)
from tests.stacks import serving_if_used, suite_stack


@pytest.fixture(scope="session")
def stack():
    with suite_stack("-contract") as running:
        yield running


@pytest.fixture(autouse=True)
def serving(request):
    """The handlers serve with this directory's stack while a test of it runs."""
    with serving_if_used(request):
        yield
