"""echeck's performance figures. `./run bench` (or `python -m benchmarks`) prints them as one table.

Each `bench_*.py` module here exposes `run(quick: bool) -> list[Figure]`; `--only NAME` runs one module.
Figures are measured on this machine and compared with the issue's target; tests never time things.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    area: str  # e.g. "outbox", "sync", "ui"
    name: str  # what was measured
    value: float
    unit: str  # "ms", "s", "MB", "/s"
    target: str = ""  # the target, as text: "≤ 10 ms"
    ok: bool | None = None  # met the target? None when there is no target
