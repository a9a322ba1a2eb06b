"""`echeck-cloud identity rebuild`: recompute every profile from the edges (repair; the mapping the
incremental linker kept must come out unchanged)."""

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from cloud.db.engine import make_engine
from cloud.db.migrate import migrate
from cloud.db.types import utcnow
from cloud.identity.rebuild import rebuild


def cmd_rebuild(args: argparse.Namespace) -> None:
    engine = make_engine(args.database_url)
    migrate(engine=engine)
    try:
        done = rebuild(engine, utcnow(), by="cli")
    finally:
        engine.dispose()
    doc = {**asdict(done), "seconds": round(done.seconds, 3)}
    if args.json:
        print(json.dumps(doc))
    else:
        print(
            f"rebuilt {done.profiles} profiles of {done.nodes} identifiers from {done.edges} links "
            f"in {done.seconds:.1f} s; {done.changed} identifiers changed profile"
        )


def add_commands(sub: Any, add: Callable[..., Any], json_flag: Callable[[Any], None]) -> None:
    identity = sub.add_parser("identity", help="the identity graph: rebuild").add_subparsers(
        dest="action", required=True
    )
    json_flag(add("rebuild", cmd_rebuild, "recompute every profile from the links", identity))
