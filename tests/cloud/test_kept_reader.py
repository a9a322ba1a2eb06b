"""A message link's kept page read on the event loop (cloud.pages.kept_reader, PostgreSQL): the same row
and the same decision as the page's own lookup, and a database it cannot reach costs a logged fallback,
never an error of the page; the link's route ahead of the routers leaves every other `/r/` route alone."""

import asyncio
import logging
import socket
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cloud.db.types import utcnow
from cloud.pages import service
from cloud.pages.kept_reader import KeptReader, conninfo_of
from cloud.pages.models import PageKept
from tests.cloud.conftest import Cloud
from tests.cloud.test_page_kept import BROWSER, MARK, _fetch, _link, _mark_kept


def _postgres_only(cloud: Cloud) -> None:
    if not cloud.url.startswith("postgresql"):
        pytest.skip("the reader serves PostgreSQL only; SQLite pages go the usual way (covered there)")


def _read(url: str, token: str) -> object:
    async def read() -> object:
        reader = KeptReader(url, min_size=1, max_size=1)
        await reader.open()
        try:
            return await reader.kept(token, utcnow())
        finally:
            await reader.close()

    return asyncio.run(read())


def test_the_reader_finds_a_current_kept_page_as_the_page_lookup_does_and_nothing_else(cloud: Cloud) -> None:
    _postgres_only(cloud)
    reg = cloud.register()
    link = _link(cloud, reg, 1)  # its page kept ahead when the receipt was stored
    token = link.rsplit("/", 1)[1]
    hit = _read(cloud.url, token)
    with Session(cloud.engine) as s:
        found = service.page_by_link(s, token)
    assert found is not None
    assert found.keeping is not None
    assert hit is not None
    assert (hit.receipt_id, hit.tenant_id) == (found.receipt.id, found.receipt.tenant_id)  # type: ignore[attr-defined]
    assert hit.page == found.keeping.page  # type: ignore[attr-defined]
    assert _read(cloud.url, "x" * 22) is None  # no such link
    with cloud.engine.begin() as conn:  # nothing kept: the page is rendered on the usual path
        conn.execute(sa.delete(PageKept))
    assert _read(cloud.url, token) is None
    _fetch(cloud, link)
    assert _read(cloud.url, token) == hit  # kept again by that fetch: the very page kept ahead
    with cloud.engine.begin() as conn:  # a stamp that is no longer the current one
        conn.execute(sa.update(PageKept).values(stamp="0" * 32))
    assert _read(cloud.url, token) is None
    with cloud.engine.begin() as conn:  # a kept page past a promo's start or end
        conn.execute(sa.update(PageKept).values(valid_until=utcnow() - timedelta(seconds=1)))
    assert _read(cloud.url, token) is None


def test_a_database_the_reader_cannot_reach_is_a_logged_miss_and_the_page_is_served_the_usual_way(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    _postgres_only(cloud)
    with socket.socket() as listening:  # accepts TCP, never speaks PostgreSQL
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        url = sa.make_url(cloud.url).set(host="127.0.0.1", port=port, query={"connect_timeout": "1"})
        caplog.set_level(logging.WARNING, logger="cloud.pages")
        assert _read(url.render_as_string(hide_password=False), "x" * 22) is None
    assert "pages.kept_read_failed" in caplog.text
    reg = cloud.register()
    link = _link(cloud, reg, 2)
    assert cloud.http.get(link, headers=BROWSER).status_code == 200


def test_the_link_route_first_leaves_other_r_paths_to_their_routes(cloud: Cloud) -> None:
    reg = cloud.register()
    link = _link(cloud, reg, 3)
    _fetch(cloud, link)
    _mark_kept(cloud)
    again = cloud.http.get(link, headers=BROWSER)
    assert again.status_code == 200
    assert "Кассовый чек" in again.text
    assert MARK in again.text  # the kept page: by the reader on PostgreSQL, the usual way on SQLite
    assert cloud.http.head(link).status_code == 405  # as the page's route: a HEAD is never a fetch
    css = cloud.http.get("/r/style.css", params={"a": "112233", "b": "ffffff", "t": "000000"})
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert cloud.http.get("/r/short").status_code == 404  # not link-shaped: the routers' 404 page
    assert cloud.http.get("/r/" + "z" * 40).status_code == 404


def test_the_readers_connection_string_keeps_the_urls_own_settings_over_the_defaults() -> None:
    info = conninfo_of("postgresql+psycopg://u:p@db.example:6432/echeck?connect_timeout=3&sslmode=require")
    for setting in ("host=db.example", "port=6432", "dbname=echeck", "connect_timeout=3", "sslmode=require"):
        assert setting in info
    assert "keepalives_idle=30" in info  # the engine's default, which the URL does not set
    assert "password=p" in info


def test_a_page_read_on_the_event_loop_is_answered_with_the_headers_of_a_page_rendered(cloud: Cloud) -> None:
    """The same security headers, cookie and type whichever way the page went: a browser, a proxy or a
    scanner cannot tell a kept fetch from a render."""
    _postgres_only(cloud)
    reg = cloud.register()
    link = _link(cloud, reg, 4)  # kept ahead: this fetch is read by the reader
    _mark_kept(cloud)
    kept_page = httpx.get(str(cloud.http.base_url) + link, headers=BROWSER)
    assert MARK in kept_page.text
    with cloud.engine.begin() as conn:  # stale: the next fetch renders in the request
        conn.execute(sa.update(PageKept).values(stamp="0" * 32))
    rendered = httpx.get(str(cloud.http.base_url) + link, headers=BROWSER)
    assert MARK not in rendered.text

    def shape(response: httpx.Response) -> dict[str, str]:
        varying = {"date", "content-length", "set-cookie"}
        return {k: v for k, v in response.headers.items() if k not in varying}

    assert shape(kept_page) == shape(rendered)
    cookies = [r.headers["set-cookie"].split("=", 1)[0] for r in (kept_page, rendered)]
    assert cookies == ["ec_bid", "ec_bid"]  # a new browser gets its id either way
    assert kept_page.headers["content-security-policy"].startswith("default-src 'self'")
