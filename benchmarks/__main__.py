"""Run every benchmark module (or `--only NAME`) and print one table; `--quick` for a short smoke run."""

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks import Figure
from benchmarks.machine import CpuTimes


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", action="append", help=f"run only these modules: {', '.join(modules())}")
    parser.add_argument("--quick", action="store_true", help="smaller runs: a smoke test of the benchmarks")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    console = Console()
    figures: list[Figure] = []
    for name in modules():
        if args.only and name.removeprefix("bench_") not in args.only and name not in args.only:
            continue
        started, cpu = time.monotonic(), CpuTimes.now()
        with console.status(f"running {name} ..."):
            figures += importlib.import_module(f"benchmarks.{name}").run(args.quick)
        console.print(f"{name}: done in {time.monotonic() - started:.0f} s")
        after = CpuTimes.now()
        if cpu is not None and after is not None:  # the host's share of the run: read tails against it
            steal, idle = after.percent_since(cpu)
            area = name.removeprefix("bench_")
            figures.append(
                Figure(
                    area, "machine: CPU stolen by the host during the run", steal, "%", f"idle {idle:.0f} %"
                )
            )
    table = Table(title="echeck benchmarks" + (" (quick)" if args.quick else ""))
    for column in ("area", "figure", "value", "target", ""):
        table.add_column(column, justify="right" if column == "value" else "left")
    for f in figures:
        mark = {True: "[green]met[/]", False: "[red]MISSED[/]", None: ""}[f.ok]
        table.add_row(f.area, f.name, f"{f.value:,.2f} {f.unit}", f.target, mark)
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in figures], indent=2), encoding="utf-8")
    return 1 if any(f.ok is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
