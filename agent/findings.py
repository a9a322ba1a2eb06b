"""What `doctor` and `status` tell store IT: one line a fact, ok / warning / error, and what to do."""

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    level: Level
    what: str
    advice: str = ""

    def __init__(self, level: Level | bool, what: str, advice: str = "") -> None:
        # A bool is the fiscal checks' "ok or not": not ok is an error.
        if isinstance(level, bool):
            level = Level.OK if level else Level.ERROR
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "what", what)
        object.__setattr__(self, "advice", advice)

    @property
    def ok(self) -> bool:
        return self.level is Level.OK

    def line(self) -> str:
        text = f"  {self.level.value:<7}  {self.what}"
        return text + (f": {self.advice}" if self.advice else "")


def exit_code(findings: list[Finding]) -> int:
    """1 when something needs store IT (an error), else 0."""
    return 1 if any(f.level is Level.ERROR for f in findings) else 0
