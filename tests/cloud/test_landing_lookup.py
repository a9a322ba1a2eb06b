"""The QR landing `/r/c/{register}/{landing}` is one index probe, not a scan of a register's receipts."""

from cloud.db.types import utcnow
from cloud.pages.service import landing_query
from sync.protocol import batch_path
from tests.cloud.conftest import Cloud, wire_receipt


def test_the_landing_lookup_uses_its_index(cloud: Cloud) -> None:
    reg = cloud.register()
    receipts = [wire_receipt(fd, extra={"landing": f"landing-{fd:08d}"}) for fd in range(1, 201)]
    resp = cloud.http.post(batch_path(reg.store_id), json={"receipts": receipts}, headers=reg.auth)
    assert resp.status_code == 200
    query = landing_query(reg.register_id, "landing-00000150", utcnow())
    with cloud.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE receipt")
            conn.exec_driver_sql("SET enable_seqscan = off")  # a 200-row table would be scanned anyway
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
        else:
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "ix_receipt_register_id_landing" in plan, plan
    page = cloud.http.get(f"/r/c/{reg.register_id}/landing-00000150")
    assert page.status_code == 200
    assert "<dt>ФД</dt><dd>150</dd>" in page.text
    other = cloud.register()  # another register's id with the same token finds nothing
    elsewhere = cloud.http.get(f"/r/c/{other.register_id}/landing-00000150").text
    assert "Чек почти готов" in elsewhere
    assert "<dt>ФД</dt>" not in elsewhere
