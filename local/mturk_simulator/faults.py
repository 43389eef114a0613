"""Random ServiceFault injection, reproducible with a seed."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from typing import Any

#: Operations that change state: the default targets of injected faults, and ``applied`` in the call log.
WRITE_OPERATIONS = frozenset({"ApproveAssignment", "RejectAssignment", "UpdateNotificationSettings"})
WHEN = ("before", "after")


class FaultInjector:
    """Answers a share of calls with ServiceFault (HTTP 500).

    ``when="before"``: the call is not applied. ``when="after"``: the call is applied
    and the fault answered anyway, as when a response is lost after the write.
    ``ops`` is ``"writes"`` (default), ``"all"`` or an iterable of operation names.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(0.0)

    def configure(self, rate: float | None, when: str = "before", seed: int | None = None,
                  ops: str | Iterable[str] = "writes") -> None:
        rate = rate or 0.0
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        if when not in WHEN:
            raise ValueError(f"when must be one of {WHEN}")
        if isinstance(ops, str) and ops not in ("writes", "all"):
            raise ValueError('ops must be "writes", "all" or a list of operation names')
        with self._lock:
            self.rate = rate
            self.when = when
            self.seed = seed
            self.ops = ops if isinstance(ops, str) else frozenset(ops)
            self._random = random.Random(seed)

    @property
    def settings(self) -> dict[str, Any]:
        ops = self.ops if isinstance(self.ops, str) else sorted(self.ops)
        return {"rate": self.rate, "when": self.when, "seed": self.seed, "ops": ops}

    def _targets(self, operation: str) -> bool:
        if self.ops == "all":
            return True
        if self.ops == "writes":
            return operation in WRITE_OPERATIONS
        return operation in self.ops

    def draw(self, operation: str) -> str | None:
        """``"before"``/``"after"`` if this call is to fail, else None. One draw per targeted call."""
        with self._lock:
            if self.rate <= 0 or not self._targets(operation):
                return None
            return self.when if self._random.random() < self.rate else None
