"""Python's cyclic garbage collector during a cold start: held until the first invocation ends.

A cold start creates several hundred thousand objects (modules, classes, functions, the routes' validation
models, botocore's service models) that live as long as the execution environment. While they are made, the
collector runs again and again (about 200 collections before a cold API's first decision is answered, measured)
and finds almost nothing to free: about 70 ms of a 700 ms first decision. So in a Lambda execution environment
(`AWS_LAMBDA_FUNCTION_NAME` is set, as Lambda and the offline stack's function processes set it) the handlers'
package pauses it at import (`pause`, `handlers/__init__.py`), and it resumes when the environment's first
invocation ends (`resumes_after_first_invocation`): what the cold start made is frozen first (`gc.freeze`: never
scanned again), and collections go on as usual from then on. A function whose first invocation may be long
work (the batch worker's chunk, the upload parser's whole upload) resumes it as that invocation starts instead,
without freezing (`resume(freeze=False)`): its steady state allocates in bulk, and a freeze would leave the
collector's count of long-lived objects near zero, which makes full collections of the work's own objects
frequent; unfrozen, the collector keeps its usual accounting. Only cyclic garbage waits meanwhile (about a
thousand objects at a first decision); reference counting frees the rest as always. Elsewhere (tests, the CLI,
the local stack's own process) nothing changes.
"""
from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])
_paused = False


def in_lambda_environment() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def pause() -> bool:
    """Hold the collector in a Lambda execution environment whose collector runs; True if this paused it."""
    global _paused
    if _paused or not in_lambda_environment() or not gc.isenabled():
        return False
    gc.disable()
    _paused = True
    return True


def resume(freeze: bool = True, collect_first: bool = False) -> None:
    """Collect as usual again (nothing if `pause` did not pause it), what the cold start made frozen first unless
    `freeze` is False. `collect_first` where no one waits (SnapStart's before-snapshot hook): the cyclic garbage is
    freed, not frozen."""
    global _paused
    if _paused:
        _paused = False
        if collect_first:
            gc.collect()
        if freeze:
            gc.freeze()
        gc.enable()


def paused() -> bool:
    return _paused


def resumes_after_first_invocation(handler: F) -> F:
    """`handler`, resuming the collector when an invocation ends, however it ends (after the first: nothing)."""

    @functools.wraps(handler)
    def invoke(*args: object, **kwargs: object) -> object:
        try:
            return handler(*args, **kwargs)
        finally:
            resume()

    return invoke  # type: ignore[return-value]
