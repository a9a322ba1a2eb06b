"""Head office in a real browser: Debian's Chromium driven by Playwright (never `playwright install`).

Sign-in, sign-out, a revoked session, an analyst refused on admin pages, a regional manager who sees only
their stores, an invitation accepted in the browser. The pages must work without any CSP violation
(no inline script or style) and without any request leaving the cloud.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from cloud.accounts import users
from tests.cloud.conftest import PASSWORD, Cloud

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 60_000  # a loaded 2-core machine: generous, never a timing assertion


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # --no-sandbox: CI and these machines run tests as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Watched:
    """A page whose console errors (CSP violations among them) and off-site requests are collected."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.set_default_timeout(WAIT_MS)
        page.on("console", self._console)
        page.on("request", lambda r: self._request(r, base))

    def _console(self, msg: ConsoleMessage) -> None:
        # A refused sign-in is a 401 on purpose; anything else an error (a CSP violation, a missing asset).
        if msg.type == "error" and "status of 401" not in msg.text:
            self.errors.append(msg.text)

    def _request(self, request: Request, base: str) -> None:
        if not request.url.startswith(base):
            self.foreign.append(request.url)

    def clean(self) -> None:
        assert self.errors == []
        assert self.foreign == []


@pytest.fixture
def open_page(browser: Browser, cloud: Cloud) -> Iterator[object]:
    contexts = []
    base = str(cloud.http.base_url).rstrip("/")

    def new(width: int = 390) -> Watched:  # a phone first
        context = browser.new_context(base_url=base, viewport={"width": width, "height": 844}, locale="ru-RU")
        contexts.append(context)
        return Watched(context.new_page(), base)

    yield new
    for context in contexts:
        context.close()


def sign_in(w: Watched, email: str, password: str = PASSWORD) -> None:
    w.page.goto("/login")
    w.page.fill("#email", email)
    w.page.fill("#password", password)
    w.page.click("#sign-in")
    w.page.wait_for_load_state()


def test_sign_in_and_sign_out(cloud: Cloud, open_page: object) -> None:
    reg = cloud.register()
    cloud.user(reg.tenant_id, "it@shop.example", "store_it")
    w = open_page()  # type: ignore[operator]
    w.page.goto("/fleet")
    assert w.page.url.endswith("/login?next=%2Freports%2Ffleet")  # /fleet moved to the dashboards
    w.page.fill("#email", "it@shop.example")
    w.page.fill("#password", "not the password")
    w.page.click("#sign-in")
    assert "неверный e-mail или пароль" in w.page.inner_text(".error")
    w.page.fill("#password", PASSWORD)
    w.page.click("#sign-in")
    w.page.wait_for_url("**/fleet")
    assert w.page.inner_text("h1") == "Кассы"
    assert "Tverskaya 7" in w.page.inner_text("main")
    assert "it@shop.example" in w.page.inner_text("header")
    w.page.click("text=Выйти")
    w.page.wait_for_url("**/login")
    w.page.goto("/fleet")
    assert "/login" in w.page.url
    w.clean()


def test_a_revoked_session_sends_the_browser_back_to_sign_in(cloud: Cloud, open_page: object) -> None:
    tenant_id, _key = cloud.tenant()
    user_id = cloud.user(tenant_id, "admin@shop.example", "admin")
    w = open_page()  # type: ignore[operator]
    sign_in(w, "admin@shop.example")
    w.page.goto("/admin/users")
    assert w.page.inner_text("h1") == "Пользователи"
    with cloud.session() as s:
        users.revoke_sessions(s, tenant_id, user_id, actor="test")
    w.page.reload()
    assert "/login" in w.page.url
    assert w.page.inner_text("h1") == "Вход для головного офиса"
    w.clean()


def test_an_analyst_is_refused_on_admin_pages(cloud: Cloud, open_page: object) -> None:
    tenant_id, _key = cloud.tenant()
    cloud.user(tenant_id, "analyst@shop.example", "analyst")
    w = open_page()  # type: ignore[operator]
    sign_in(w, "analyst@shop.example")
    for path in ("/admin/users", "/admin/keys", "/admin/audit"):
        response = w.page.goto(path)
        assert response is not None
        assert response.status == 403, path
        assert w.page.inner_text("h1") == "Нет доступа"
    # The fleet is a dashboard now: an analyst reads it, without store IT's buttons.
    w.page.goto("/fleet")
    assert w.page.url.endswith("/reports/fleet")
    assert w.page.locator("button:has-text('Перевыпустить')").count() == 0
    # The menu offers nothing the role cannot open.
    assert w.page.locator("header a[href='/admin/users']").count() == 0


def test_a_regional_manager_sees_only_their_stores(cloud: Cloud, open_page: object) -> None:
    tenant_id, key = cloud.tenant()
    cloud.register((tenant_id, key), cloud.store(tenant_id, "Тверская 7", "Москва"))
    cloud.register((tenant_id, key), cloud.store(tenant_id, "Баумана 3", "Казань"))
    cloud.user(tenant_id, "kazan@shop.example", "store_it", regions=["Казань"])
    cloud.user(tenant_id, "owner@shop.example", "owner")
    w = open_page()  # type: ignore[operator]
    sign_in(w, "kazan@shop.example")
    w.page.goto("/fleet")
    text = w.page.inner_text("main")
    assert "Баумана 3" in text
    assert "Тверская 7" not in text
    assert "регионы: Казань" in w.page.inner_text("header")
    owner = open_page(1280)  # type: ignore[operator]
    sign_in(owner, "owner@shop.example")
    owner.page.goto("/fleet")
    everything = owner.page.inner_text("main")
    assert "Тверская 7" in everything
    assert "Баумана 3" in everything
    w.clean()
    owner.clean()


def test_an_admin_invites_and_the_invitee_sets_a_password(cloud: Cloud, open_page: object) -> None:
    tenant_id, _key = cloud.tenant()
    cloud.store(tenant_id, "Тверская 7", "Москва")
    cloud.user(tenant_id, "admin@shop.example", "admin")
    admin = open_page(1280)  # type: ignore[operator]
    sign_in(admin, "admin@shop.example")
    admin.page.goto("/admin/users")
    admin.page.fill("#email", "new.analyst@shop.example")
    admin.page.select_option("#role", "analyst")
    admin.page.fill("#regions", "Москва")
    admin.page.click("#invite")
    link = admin.page.inner_text("#secret")
    assert "/invite/" in link
    invitee = open_page()  # type: ignore[operator]
    invitee.page.goto(link)
    assert "new.analyst@shop.example" in invitee.page.inner_text("main")
    invitee.page.fill("#password", "a long new password")
    invitee.page.fill("#password2", "a long new password")
    invitee.page.click("#accept")
    invitee.page.wait_for_url("**/reports/fleet")  # an analyst lands on the dashboards
    assert "аналитик" in invitee.page.inner_text("header")
    assert "регионы: Москва" in invitee.page.inner_text("header")
    admin.page.goto("/admin/users")
    assert "new.analyst@shop.example" in admin.page.inner_text("table")
    admin.page.goto("/admin/audit")
    log = admin.page.inner_text("table")
    assert "приглашение" in log
    assert "принял приглашение" in log
    admin.clean()
    invitee.clean()


def test_api_docs_render_without_any_cdn(open_page: object) -> None:
    # /docs is the published contract: it must render in the browser with the cloud's own assets
    # (FastAPI's default page loads Swagger UI from a CDN and runs an inline script, both refused by the CSP).
    w = open_page(1280)  # type: ignore[operator]
    w.page.goto("/docs")
    w.page.wait_for_selector(".opblock", state="attached")
    assert w.page.locator(".opblock").count() > 10
    w.clean()


# How far any table of a page reaches past its box (0: nothing hidden behind a sideways scroll).
HIDDEN_WIDTH = (
    "Math.max(0, ...[...document.querySelectorAll('table')]"
    ".map(t => t.scrollWidth - t.parentElement.clientWidth))"
)


@pytest.mark.parametrize("width", [390, 1280])
def test_no_column_is_hidden_at_phone_or_desktop_width(cloud: Cloud, open_page: object, width: int) -> None:
    # The actions (Отозвать, Завершить сеансы, Отозвать ключ) and the audit's action sat past the right edge.
    reg = cloud.register()
    cloud.user(reg.tenant_id, "owner@shop.example", "owner")
    w = open_page(width)  # type: ignore[operator]
    sign_in(w, "owner@shop.example")
    for path in ("/reports/fleet", "/admin/users", "/admin/keys", "/admin/audit"):
        w.page.goto(path)
        assert w.page.evaluate(HIDDEN_WIDTH) <= 1, path
    w.clean()
