"""One report line per check, as `make preflight` and `make verify-deploy` print them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckLine:
    """`LEVEL check message -> fix`; the level's words are the command's own (OK/WARN/STOP, OK/WARN/FAIL)."""

    level: str
    check: str
    message: str
    fix: str = ""

    def line(self, level_width: int = 5, check_width: int = 19) -> str:
        text = f"{self.level:<{level_width}} {self.check:<{check_width}} {self.message}"
        return f"{text} -> {self.fix}" if self.fix else text
