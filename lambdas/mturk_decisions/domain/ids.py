"""MTurk ids, checked against the whole string.

`re.match(r"^[A-Z0-9]{1,64}$", "ABC\\n")` matches: Python's `$` also matches before a final newline. These
helpers use `re.fullmatch`, so an id is exactly what MTurk accepts and nothing trails it.
"""
from __future__ import annotations

import re
from typing import TypeGuard

#: MTurk's EntityId (assignments, HITs, HIT types), at most 64 characters.
MTURK_ID = re.compile(r"[A-Z0-9]{1,64}")
#: A worker id: `A` then upper-case letters and digits, at most 64 characters.
WORKER_ID = re.compile(r"A[A-Z0-9]{1,63}")


def is_mturk_id(value: object) -> TypeGuard[str]:
    """True for an assignment, HIT or HIT type id: 1-64 of A-Z and 0-9, nothing else (no trailing newline)."""
    return isinstance(value, str) and MTURK_ID.fullmatch(value) is not None


def is_worker_id(value: object) -> TypeGuard[str]:
    """True for a worker id: `A` then 1-63 of A-Z and 0-9, nothing else (no trailing newline)."""
    return isinstance(value, str) and WORKER_ID.fullmatch(value) is not None
