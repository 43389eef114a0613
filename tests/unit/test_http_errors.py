"""The HTTP status of the domain errors lives in the API layer, one table (api/http_errors.py)."""
from __future__ import annotations

import importlib
import pkgutil

from mturk_decisions.api.http_errors import STATUS_BY_CODE, http_status
from mturk_decisions.domain.errors import DecisionError, DecisionInProgress, MTurkThrottled, QueueUnavailable


def _every_subclass(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for subclass in list(found):
        found |= _every_subclass(subclass)
    return found


def _domain_errors() -> set[type[DecisionError]]:
    """Every DecisionError the Lambda code defines (its domain, service and adapter modules imported)."""
    for package in ("domain", "service", "adapters"):
        path = importlib.import_module(f"mturk_decisions.{package}").__path__
        for module in pkgutil.iter_modules(path):
            importlib.import_module(f"mturk_decisions.{package}.{module.name}")
    return {DecisionError} | _every_subclass(DecisionError)


def test_every_domain_error_has_an_http_status_in_the_table():
    # Given every domain error the code defines
    errors = _domain_errors()
    # When their codes are looked up in the API's table
    missing = sorted(error.__name__ for error in errors if error.code not in STATUS_BY_CODE)
    # Then none is missing, and every status is an HTTP error status
    assert not missing, f"no HTTP status for {missing} in api/http_errors.py"
    assert all(400 <= http_status(error) <= 599 for error in errors)


def test_the_table_names_no_code_that_no_error_has():
    # Given the codes of every domain error
    codes = {error.code for error in _domain_errors()}
    # When / Then the table has no stale entry
    assert set(STATUS_BY_CODE) == codes


def test_a_domain_error_knows_whether_to_retry_but_not_its_http_status():
    # Given errors the API answers 409, 429 and 503
    busy, throttled, down = DecisionInProgress("busy"), MTurkThrottled("slow down"), QueueUnavailable("down")
    # When / Then they carry no status of their own, only the API's table gives it
    assert not any(hasattr(error, "status") for error in (busy, throttled, down))
    assert [http_status(error) for error in (busy, throttled, down)] == [409, 429, 503]
    # And they say they are worth retrying
    assert busy.retryable and throttled.retryable and down.retryable
