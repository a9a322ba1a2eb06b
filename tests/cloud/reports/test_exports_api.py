"""Exports and the read API over real HTTP: CSV, XLSX (read back with openpyxl), PDF (pypdf), JSON and CSV
pages for the tenant's BI; the scope of a regional analyst holds in each; the old /fleet address redirects."""

import csv
import io
from datetime import UTC, datetime

import httpx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from benchmarks.support.report_data import Chain, make_chain, seed_month
from tests.cloud.conftest import Cloud

STORES = [("Тверская 7", "Москва"), ("Арбат 1", "Москва"), ("Баумана 3", "Казань")]


@pytest.fixture
def chain(cloud: Cloud) -> tuple[Chain, str]:
    tenant_id, key = cloud.tenant()
    chain = make_chain(cloud.engine, tenant_id, STORES, registers_per_store=2)
    seed_month(cloud.engine, chain, end=datetime.now(UTC), days=10, receipts_per_register_day=6)
    cloud.user(tenant_id, "owner@shop.example", "owner")
    cloud.user(tenant_id, "kazan@shop.example", "analyst", regions=["Казань"])
    cloud.user(tenant_id, "it@shop.example", "store_it")
    return chain, key


def test_csv_and_xlsx_of_every_table_keep_the_scope(cloud: Cloud, chain: tuple[Chain, str]) -> None:
    with cloud.browser("kazan@shop.example") as b:
        page = b.get("/reports/sending")
        assert page.status_code == 200
        assert "Баумана 3" in page.text
        assert "Тверская 7" not in page.text
        resp = b.get("/reports/sending/tables/stores.csv")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/csv")
        assert "attachment" in resp.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert [r["Магазин"] for r in rows] == ["Баумана 3"]
        assert 0 < float(rows[0]["Доля с контактом, доля"]) <= 1
        xlsx = b.get("/reports/sending/export.xlsx")
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.content))
        assert book.sheetnames == ["Показатели", "По магазинам", "По кассам и кассирам", "Каналы", "По дням"]
        stores = book["По магазинам"]
        assert [c.value for c in stores[1]][:3] == ["Магазин", "Регион", "Чеков"]
        assert [stores.cell(row=i, column=1).value for i in range(2, stores.max_row + 1)] == ["Баумана 3"]
        assert stores.cell(row=2, column=3).value == int(rows[0]["Чеков"])
        assert "регионы: Казань" in book["Показатели"]["A2"].value
        for table in ("cashiers", "channels", "days"):
            assert b.get(f"/reports/sending/tables/{table}.csv").status_code == 200
        assert b.get("/reports/sending/tables/secrets.csv").status_code == 404


def test_pdf_has_the_dashboards_pages(cloud: Cloud, chain: tuple[Chain, str]) -> None:
    with cloud.browser("owner@shop.example") as b:
        resp = b.get("/reports/sending/export.pdf", timeout=120)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/pdf"
        pdf = PdfReader(io.BytesIO(resp.content))
        text = "\n".join(p.extract_text() for p in pdf.pages)
        assert len(pdf.pages) >= 2
        for heading in ("Отправка чеков", "По магазинам", "Каналы", "По дням", "Тверская 7"):
            assert heading in text, heading
        assert f"стр. 1 из {len(pdf.pages)}" in text


def test_read_api_pages_a_table_as_json_and_csv_for_the_tenants_key(
    cloud: Cloud, chain: tuple[Chain, str]
) -> None:
    _chain, key = chain
    auth = {"Authorization": f"Bearer {key}"}
    listed = cloud.http.get("/v1/reports", headers=auth).json()
    assert [d["slug"] for d in listed["dashboards"]] == ["fleet", "sending", "elements", "ropo"]
    whole = cloud.http.get("/v1/reports/sending", headers=auth).json()
    assert {f["id"] for f in whole["figures"]} >= {"receipts", "capture", "open_rate", "saving", "p95"}
    first = cloud.http.get(
        "/v1/reports/sending/cashiers", params={"per_page": 4, "sort": "-receipts"}, headers=auth
    )
    assert first.status_code == 200
    body = first.json()
    assert body["total"] >= 6  # (register, cashier) pairs: at least one per register
    assert body["per_page"] == 4
    assert len(body["items"]) == 4
    receipts = [i["receipts"] for i in body["items"]]
    assert receipts == sorted(receipts, reverse=True)
    everything = []
    for page in range(1, body["pages"] + 1):
        part = cloud.http.get(
            "/v1/reports/sending/cashiers", params={"per_page": 4, "page": page}, headers=auth
        )
        everything += part.json()["items"]
    assert len(everything) == body["total"]
    as_csv = cloud.http.get("/v1/reports/sending/stores", params={"format": "csv"}, headers=auth)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["x-total-count"] == "3"
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == 3
    assert cloud.http.get("/v1/reports/sending/stores").status_code == 401
    bad = cloud.http.get("/v1/reports/sending/stores", params={"per_page": 5000}, headers=auth)
    assert bad.status_code == 422


def test_read_api_for_a_signed_in_analyst_is_scoped(cloud: Cloud, chain: tuple[Chain, str]) -> None:
    with cloud.browser("kazan@shop.example") as b:
        body = b.get("/v1/reports/sending/stores").json()
        assert [i["store"] for i in body["items"]] == ["Баумана 3"]


def test_another_tenants_key_reads_nothing_of_this_tenant(cloud: Cloud, chain: tuple[Chain, str]) -> None:
    _other_id, other_key = cloud.tenant("Other")
    body = cloud.http.get(
        "/v1/reports/sending/stores", headers={"Authorization": f"Bearer {other_key}"}
    ).json()
    assert body["items"] == []
    assert body["total"] == 0


def test_old_fleet_address_redirects_and_roles_open_what_they_may(
    cloud: Cloud, chain: tuple[Chain, str]
) -> None:
    with cloud.browser("it@shop.example") as b:
        old = b.get("/fleet?store=1", follow_redirects=False)
        assert old.status_code == 301
        assert old.headers["location"] == "/reports/fleet?store=1"
        page = b.get("/reports/fleet")
        assert page.status_code == 200
        assert "Перевыпустить" in page.text
        assert b.get("/reports/sending").status_code == 403  # store IT: the fleet, not the reports
    with cloud.browser("kazan@shop.example") as b:
        page = b.get("/reports/fleet")
        assert page.status_code == 200
        assert "Чеков сегодня" in page.text
        assert "Перевыпустить" not in page.text  # an analyst reads; store IT acts


def test_pages_are_csp_clean_html(cloud: Cloud, chain: tuple[Chain, str]) -> None:
    with cloud.browser("owner@shop.example") as b:
        for slug in ("fleet", "sending", "elements", "ropo"):
            resp: httpx.Response = b.get(f"/reports/{slug}")
            assert resp.status_code == 200, slug
            assert "style=" not in resp.text
            assert "<script" not in resp.text
            assert "default-src 'self'" in resp.headers["content-security-policy"]
        assert b.get("/reports/sending", params={"since": "вчера"}).status_code == 422
