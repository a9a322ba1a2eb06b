"""The full rebuild: every component recomputed from the edges (`echeck-cloud identity rebuild`).

The incremental linker keeps the mapping current; the rebuild is for repair and for proving that it did
(the mapping after a rebuild must be the same). It replays no guardrail: what each observation decided is
stored with it; a component is made of the active edges (linked, not revoked, no end quarantined unless
the edge's own tenant released it).

One transaction. On PostgreSQL the profile table is locked EXCLUSIVE first, so linkers (which lock profile
rows) wait for the rebuild instead of interleaving with it. Memory: two arrays of 8 bytes per node id
(parents, old mapping) plus the sets of quarantined nodes and revoked edges; edges are streamed.
"""

import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cloud.identity.graph import Decision, UnionFind
from cloud.identity.store import EDGE, LOG, MEMBER, NODE, PROFILE, RELEASED, REVOKED

_STREAM = 200_000


@dataclass(frozen=True, slots=True)
class Rebuilt:
    nodes: int
    edges: int  # active edges used
    profiles: int
    changed: int  # nodes whose profile id changed
    seconds: float


def _stream(conn: Connection, query: sa.Select[Any]) -> Iterator[Any]:
    result = conn.execute(query.execution_options(stream_results=True, yield_per=_STREAM))
    for part in result.partitions():
        yield from part


def rebuild(engine: Engine, now: datetime, *, by: str = "rebuild") -> Rebuilt:
    started = time.perf_counter()
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.text("LOCK TABLE identity_profile IN EXCLUSIVE MODE"))
        top = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(NODE.c.id), 0))).scalar_one())
        quarantined = set(
            conn.execute(sa.select(NODE.c.id).where(NODE.c.quarantined_at.is_not(None))).scalars()
        )
        revoked = set(conn.execute(sa.select(REVOKED.c.edge_id)).scalars())
        releases = {
            (int(n), int(t)) for n, t in conn.execute(sa.select(RELEASED.c.node_id, RELEASED.c.tenant_id))
        }
        uf = UnionFind(top + 1)
        used = 0

        def active() -> Iterator[tuple[int, int]]:
            nonlocal used
            query = sa.select(EDGE.c.id, EDGE.c.a_id, EDGE.c.b_id, EDGE.c.tenant_id).where(
                EDGE.c.decision == Decision.LINKED.value, EDGE.c.b_id.is_not(None)
            )
            for edge_id, a, b, tenant in _stream(conn, query):
                if edge_id in revoked:
                    continue
                if (a in quarantined and (a, tenant) not in releases) or (
                    b in quarantined and (b, tenant) not in releases
                ):
                    continue
                used += 1
                yield a, b

        uf.union_all(active())
        old = array("q", bytes(8 * (top + 1)))
        present = bytearray(top + 1)
        for node, profile in _stream(conn, sa.select(MEMBER.c.node_id, MEMBER.c.profile_id)):
            old[node] = profile
            present[node] = 1
        changed: list[tuple[int, int]] = []
        missing: list[tuple[int, int]] = []
        roots: set[int] = set()
        nodes = 0
        for (node,) in _stream(conn, sa.select(NODE.c.id)):
            nodes += 1
            root = uf.find(node)
            roots.add(root)
            if not present[node]:
                missing.append((node, root))
            elif old[node] != root:
                changed.append((node, root))
        _write(conn, postgres, changed, missing, roots)
        conn.execute(
            sa.insert(LOG).values(
                action="rebuild",
                at=now,
                by=by,
                detail={"nodes": nodes, "edges": used, "profiles": len(roots), "changed": len(changed)},
            )
        )
    return Rebuilt(nodes, used, len(roots), len(changed) + len(missing), time.perf_counter() - started)


def _write(
    conn: Connection,
    postgres: bool,
    changed: list[tuple[int, int]],
    missing: list[tuple[int, int]],
    roots: set[int],
) -> None:
    if postgres:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE identity_rebuilt (node_id bigint, profile_id bigint) ON COMMIT DROP"
            )
            with cur.copy("COPY identity_rebuilt (node_id, profile_id) FROM STDIN") as copy:
                for row in changed:
                    copy.write_row(row)
            cur.execute(
                "UPDATE identity_member m SET profile_id = r.profile_id FROM identity_rebuilt r "
                "WHERE m.node_id = r.node_id"
            )
            cur.execute("CREATE TEMP TABLE identity_roots (id bigint) ON COMMIT DROP")
            with cur.copy("COPY identity_roots (id) FROM STDIN") as copy:
                for root in roots:
                    copy.write_row((root,))
            cur.execute(
                "DELETE FROM identity_profile p "
                "WHERE NOT EXISTS (SELECT 1 FROM identity_roots r WHERE r.id = p.id)"
            )
            cur.execute(
                "INSERT INTO identity_profile (id) SELECT id FROM identity_roots ON CONFLICT DO NOTHING"
            )
    else:
        if changed:
            conn.execute(
                sa.update(MEMBER)
                .where(MEMBER.c.node_id == sa.bindparam("n"))
                .values(profile_id=sa.bindparam("p")),
                [{"n": n, "p": p} for n, p in changed],
            )
        existing = set(conn.execute(sa.select(PROFILE.c.id)).scalars())
        stale = existing - roots
        if stale:
            conn.execute(sa.delete(PROFILE).where(PROFILE.c.id.in_(sorted(stale))))
        fresh = roots - existing
        if fresh:
            conn.execute(sa.insert(PROFILE), [{"id": r} for r in sorted(fresh)])
    if missing:
        conn.execute(sa.insert(MEMBER), [{"node_id": n, "profile_id": p} for n, p in missing])
