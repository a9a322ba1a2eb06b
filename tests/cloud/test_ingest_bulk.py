"""A batch of 500 costs a handful of statements, not 500 round trips."""

import time

import sqlalchemy as sa
from sqlmodel import Session

from cloud.accounts.models import Register
from cloud.bootstrap import bootstrap
from cloud.ingest.models import ReceiptRow
from cloud.ingest.service import ingest_batch
from sync.protocol import ItemStatus, ReceiptBatch, batch_path
from tests.cloud.conftest import Cloud
from tests.support.receipts import wire_receipt


def test_500_receipts_in_a_handful_of_statements(cloud: Cloud) -> None:
    reg = cloud.register()
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    batch = ReceiptBatch(receipts=[wire_receipt(fd) for fd in range(1, 501)])
    bus = bootstrap(cloud.engine, "https://r.example").bus  # "receipt stored": one job row per subscriber
    with Session(cloud.engine) as s:
        register = s.get(Register, reg.register_id)
        assert register is not None
        sa.event.listen(cloud.engine, "before_cursor_execute", count)
        try:
            started = time.perf_counter()
            result = ingest_batch(s, register, reg.store_id, batch, cloud.keys, bus)
            first_pass = time.perf_counter() - started
            stored = len(statements)
            statements.clear()
            again = ingest_batch(s, register, reg.store_id, batch, cloud.keys, bus)
        finally:
            sa.event.remove(cloud.engine, "before_cursor_execute", count)
    assert {a.status for a in result.accepted} == {ItemStatus.STORED}
    assert len(result.accepted) == 500
    assert {a.status for a in again.accepted} == {ItemStatus.DUPLICATE}
    assert stored <= 6, statements
    assert len(statements) <= 6, statements
    assert first_pass < 5
    with cloud.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ReceiptRow)).scalar_one() == 500


def test_a_full_batch_over_http(cloud: Cloud) -> None:
    reg = cloud.register()
    receipts = [wire_receipt(fd) for fd in range(1, 1001)]
    resp = cloud.http.post(batch_path(reg.store_id), json={"receipts": receipts}, headers=reg.auth)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["accepted"]) == 1000
