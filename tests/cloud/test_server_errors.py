"""A bug in a route answers 500 in the documented shape (a page for a browser); the server goes on."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import jinja2
import pytest

from cloud.app import create_app
from cloud.db.migrate import migrate
from tests.support.live_server import live_server


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    app = create_app(url)

    @app.get("/_test/broken-template")
    def broken_template() -> str:
        return jinja2.Environment().from_string("{{ receipt.total.rub }}").render(receipt=None)

    with live_server(app) as served:
        yield served


def test_an_unhandled_error_is_a_json_500_for_a_client(base: str, caplog: pytest.LogCaptureFixture) -> None:
    resp = httpx.get(f"{base}/_test/broken-template")
    assert resp.status_code == 500
    assert resp.json()["code"] == "internal_error"
    assert "повторить" in resp.json()["detail"]
    logged = [getattr(r, "fields", {}) for r in caplog.records if r.name == "cloud.errors"]
    assert {"method": "GET", "path": "/_test/broken-template", "error": "UndefinedError"} in logged
    assert httpx.get(f"{base}/healthz").status_code == 200  # the server goes on


def test_a_browser_gets_a_page_in_russian(base: str) -> None:
    resp = httpx.get(f"{base}/_test/broken-template", headers={"Accept": "text/html,*/*;q=0.8"})
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("text/html")
    assert "Что-то пошло не так" in resp.text
