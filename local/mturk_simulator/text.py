"""Text that is not Unicode: a JSON ``\\ud800`` escape without its other half decodes to a Python str holding
an unpaired UTF-16 surrogate, which no UTF-8 encoder can write."""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(text: str) -> int | None:
    """Position of the first unpaired surrogate in ``text``, or None (a str never holds a paired one)."""
    found = _SURROGATE.search(text)
    return found.start() if found else None


def printable(text: str) -> str:
    """``text`` with unpaired surrogates written as ``\\udXXX`` escapes, so it can be encoded and answered."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
