"""The dashboards in Debian's real Chromium: filters change the figures and hold across dashboards, tables
sort and page on the server, a regional analyst sees only their stores, exports download and open, a phone's
360 px width needs no sideways scrolling of the page; no CSP violation, no request leaving the cloud."""

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser
from pypdf import PdfReader

from benchmarks.support.report_data import make_chain, seed_month
from tests.cloud.conftest import Cloud
from tests.cloud.test_headoffice_browser import Watched, browser, sign_in

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared

STORES = [
    ("Тверская 7", "Москва"),
    ("Арбат 1", "Москва"),
    ("Баумана 3", "Казань"),
    ("Кремлёвская 2", "Казань"),
]
DASHBOARDS = ("fleet", "sending", "elements", "ropo")


@pytest.fixture
def seeded(cloud: Cloud) -> int:
    tenant_id, _key = cloud.tenant()
    chain = make_chain(cloud.engine, tenant_id, STORES, registers_per_store=2)
    seed_month(cloud.engine, chain, end=datetime.now(UTC), days=10, receipts_per_register_day=8)
    cloud.user(tenant_id, "owner@shop.example", "owner")
    cloud.user(tenant_id, "kazan@shop.example", "analyst", regions=["Казань"])
    return tenant_id


@pytest.fixture
def pages(browser: Browser, cloud: Cloud) -> Iterator[object]:
    contexts = []
    base = str(cloud.http.base_url).rstrip("/")

    def new(width: int = 390) -> Watched:
        context = browser.new_context(
            base_url=base, viewport={"width": width, "height": 800}, locale="ru-RU", accept_downloads=True
        )
        contexts.append(context)
        return Watched(context.new_page(), base)

    yield new
    for context in contexts:
        context.close()


def figure(w: Watched, figure_id: str) -> str:
    return w.page.inner_text(f"#fig-{figure_id} .value")


@pytest.mark.parametrize(
    ("slug", "figure_id"),
    [("fleet", "receipts_today"), ("sending", "receipts"), ("elements", "impressions"), ("ropo", "receipts")],
)
def test_a_filter_changes_the_figures_and_holds_across_dashboards(
    cloud: Cloud, seeded: int, pages: object, slug: str, figure_id: str
) -> None:
    w: Watched = pages()  # type: ignore[operator]
    sign_in(w, "owner@shop.example")
    w.page.goto(f"/reports/{slug}")
    everything = figure(w, figure_id)
    w.page.select_option("#f-region", "Казань")
    w.page.click("#f-apply")
    w.page.wait_for_url("**region=*")
    kazan = figure(w, figure_id)
    assert kazan != everything, (slug, kazan, everything)
    assert "Тверская 7" not in " ".join(w.page.locator("section[id^=table-]").all_inner_texts())
    # Another dashboard keeps the region.
    other = next(s for s in DASHBOARDS if s != slug)
    w.page.click(f".tabs a[href^='/reports/{other}']")
    w.page.wait_for_url(f"**/reports/{other}?*")
    assert w.page.input_value("#f-region") == "Казань"
    w.clean()


def test_tables_sort_and_page_on_the_server(cloud: Cloud, seeded: int, pages: object) -> None:
    w: Watched = pages(1280)  # type: ignore[operator]
    sign_in(w, "owner@shop.example")
    w.page.goto("/reports/sending")
    table = "#table-cashiers"
    w.page.click(f"{table} th >> text=Чеков")
    w.page.wait_for_url("**cashiers_sort=-receipts*")
    assert w.page.get_attribute(f"{table} th.sorted", "aria-sort") == "descending"
    column = [c for c in w.page.locator(f"{table} tbody tr td:nth-child(4)").all_inner_texts()]
    numbers = [int(c.replace("\u00a0", "")) for c in column]
    assert numbers == sorted(numbers, reverse=True)
    assert "стр. 1 из 2" in w.page.inner_text(f"{table} .pager")
    w.page.click(f"{table} a[rel=next]")
    w.page.wait_for_url("**cashiers_page=2*")
    assert "стр. 2 из 2" in w.page.inner_text(f"{table} .pager")
    assert "cashiers_sort=-receipts" in w.page.url  # the sort holds while paging
    w.clean()


def test_a_regional_analyst_sees_only_their_stores_on_every_dashboard(
    cloud: Cloud, seeded: int, pages: object
) -> None:
    w: Watched = pages()  # type: ignore[operator]
    sign_in(w, "kazan@shop.example")
    for slug in DASHBOARDS:
        w.page.goto(f"/reports/{slug}")
        text = w.page.inner_text("main")
        assert "Баумана 3" in text, slug
        assert "Тверская 7" not in text, slug
        assert "Арбат 1" not in text, slug
        options = w.page.locator("#f-store option").all_inner_texts()
        assert options == ["все", "Баумана 3", "Кремлёвская 2"], slug
    # Asking for a Moscow store by its id in the address shows nothing of it.
    w.page.goto("/reports/sending?store=1")
    assert figure(w, "receipts") == "0"
    w.clean()


def test_exports_download_and_open(cloud: Cloud, seeded: int, pages: object) -> None:
    w: Watched = pages(1280)  # type: ignore[operator]
    sign_in(w, "kazan@shop.example")
    w.page.goto("/reports/sending")
    with w.page.expect_download() as xlsx_download:
        w.page.click("#export-xlsx")
    book = load_workbook(io.BytesIO(open(xlsx_download.value.path(), "rb").read()))  # noqa: SIM115
    assert "По магазинам" in book.sheetnames
    sheet = book["По магазинам"]
    assert sorted(sheet.cell(row=i, column=1).value for i in range(2, sheet.max_row + 1)) == [
        "Баумана 3",
        "Кремлёвская 2",
    ]
    with w.page.expect_download() as csv_download:
        w.page.click("#table-channels a.csv")
    text = open(csv_download.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115
    assert text.startswith("Канал,Доставлено")
    with w.page.expect_download(timeout=120_000) as pdf_download:
        w.page.click("#export-pdf")
    pdf = PdfReader(pdf_download.value.path())
    all_text = "\n".join(p.extract_text() for p in pdf.pages)
    assert "Отправка чеков" in all_text
    assert "По кассам и кассирам" in all_text
    assert "Тверская 7" not in all_text
    w.clean()


@pytest.mark.parametrize("slug", DASHBOARDS)
def test_readable_on_a_360_px_phone(cloud: Cloud, seeded: int, pages: object, slug: str) -> None:
    w: Watched = pages(360)  # type: ignore[operator]
    sign_in(w, "owner@shop.example")
    w.page.goto(f"/reports/{slug}")
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    assert w.page.evaluate("document.documentElement.scrollWidth") <= 360
    assert w.page.locator(".figure").count() >= 4
    w.clean()
