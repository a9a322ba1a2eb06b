"""The kept-page writer (cloud.pages.kept_writer): pages handed over together are written in one
statement, a receipt's later page wins, and a statement that fails is logged and costs only the cache."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from cloud.pages.kept_writer import KeptWriter
from cloud.pages.models import PageKept
from tests.cloud.conftest import Cloud
from tests.cloud.test_page_kept import _link

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _row(receipt_id: int, tenant_id: int, html: str | None) -> dict[str, Any]:
    return {
        "receipt_id": receipt_id,
        "tenant_id": tenant_id,
        "contact_hash": None,
        "stamp": "s" * 32,
        "html": html,
        "slots": {"c": [], "r": []},
        "valid_until": None,
        "kept_at": AT,
    }


def _kept(cloud: Cloud) -> dict[int, str]:
    with cloud.engine.connect() as conn:
        return dict(conn.execute(sa.select(PageKept.receipt_id, PageKept.html)).all())  # type: ignore[call-overload]


def test_pages_handed_over_together_are_written_once_each_and_a_failed_statement_is_only_logged(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    reg = cloud.register()
    _link(cloud, reg, 1)
    _link(cloud, reg, 2)
    with cloud.engine.connect() as conn:
        first, second = conn.execute(sa.text("SELECT id FROM receipt ORDER BY id")).scalars().all()
    writer = KeptWriter(cloud.engine, linger_s=0.0)

    async def handed(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            writer.put(row)
        await writer.flush()

    t = reg.tenant_id
    asyncio.run(handed([_row(first, t, "старая"), _row(second, t, "вторая"), _row(first, t, "новая")]))
    assert _kept(cloud) == {first: "новая", second: "вторая"}
    caplog.set_level(logging.WARNING, logger="cloud.pages")
    asyncio.run(handed([_row(first, t, None)]))  # refused by the database (html is NOT NULL)
    assert "pages.keep_failed" in caplog.text
    assert _kept(cloud) == {first: "новая", second: "вторая"}
    asyncio.run(handed([_row(second, t, "снова")]))  # the writer goes on
    assert _kept(cloud)[second] == "снова"
