"""Integer path and query parameters fit the database's integers, on every route, or the answer is 422
naming them.

FastAPI parses `?after_id=99999999999999999999` into a Python int happily; the database then fails on it
(psycopg: "integer out of range", SQLite: OverflowError) and the caller got a 500. One app-wide dependency
checks every integer parameter of the matched route before anything else runs, and the OpenAPI document
says so (`minimum`/`maximum` on each such parameter, `cloud.openapi_contract`).

The width comes from the schema: `<table>_id` is bounded by that table's `id` column (tenant, store and
register ids are 32-bit on PostgreSQL, receipts 64-bit); any other integer parameter by 64 bits.
"""

import types
import typing
from functools import cache
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from cloud.db.tables import all_tables

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_cache: dict[int, list[tuple[str, str]]] = {}


@cache
def bounds_for(name: str) -> tuple[int, int]:
    """The range a parameter called `name` must fall in."""
    table = all_tables().tables.get(name.removesuffix("_id")) if name.endswith("_id") else None
    if table is not None and "id" in table.c:
        kind = table.c.id.type
        if isinstance(kind, sa.Integer) and not isinstance(kind, sa.BigInteger):
            return INT32_MIN, INT32_MAX
    return INT64_MIN, INT64_MAX


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_int(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_int(a) for a in typing.get_args(annotation))
    return False


def _int_params(dependant: Dependant) -> list[tuple[str, str]]:
    found = [("path", f.alias) for f in dependant.path_params if _is_int(f.field_info.annotation)]
    found += [("query", f.alias) for f in dependant.query_params if _is_int(f.field_info.annotation)]
    for sub in dependant.dependencies:
        found += _int_params(sub)
    return found


def _out_of_range(raw: str, low: int, high: int) -> bool:
    try:
        value = int(raw)
    except ValueError:
        return False  # not an integer at all: FastAPI's own validation answers that
    return not low <= value <= high


async def int_params_fit(request: Request) -> None:
    """The app-wide dependency: raise 422 for an integer parameter outside 64 bits."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    params = _cache.get(id(route))
    if params is None:
        params = _cache[id(route)] = _int_params(route.dependant)
    errors = []
    for where, name in params:
        source = request.path_params if where == "path" else request.query_params
        raw = source.get(name)
        low, high = bounds_for(name)
        if isinstance(raw, str) and _out_of_range(raw, low, high):
            errors.append(
                {
                    "type": "less_than_equal",
                    "loc": (where, name),
                    "msg": f"Input should be between {low} and {high}",
                    "input": raw[:40],
                }
            )
    if errors:
        raise RequestValidationError(errors)
