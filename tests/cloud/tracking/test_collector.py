"""The collector over real HTTP on SQLite and PostgreSQL: CORS per site, bad events named, bots and bursts
dropped, identifiers re-keyed, first-party cookie, EventsTracked published with the batch."""

import gzip
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from cloud.app import create_app
from cloud.db import make_engine, migrate
from cloud.events import EventsTracked
from cloud.jobs import Job
from cloud.privacy.keys import load_identity_keys
from cloud.tracking import partitions, sites
from cloud.tracking.cli import add_commands  # noqa: F401 - the CLI module imports cleanly
from cloud.tracking.events import EventType, IdentifierKind
from cloud.tracking.router import tracker_script
from cloud.tracking.store import events_where
from receipts.contact import hash_identifier, normalize_email, normalize_phone
from tests.cloud.conftest import Cloud
from tests.support.live_server import live_server

SHOP = "https://shop.example"
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36"
)
TRACKED = Job("test.events_tracked")


@pytest.fixture
def served(database_url: str) -> Iterator[Cloud]:
    """The cloud with a subscriber to EventsTracked (identity's place), so publishing leaves a job row."""
    migrate(database_url)
    engine = make_engine(database_url)
    app = create_app(database_url)
    app.state.bus.subscribe(EventsTracked, TRACKED)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield Cloud(database_url, engine, http)
    engine.dispose()


def _site(cloud: Cloud, origin: str = SHOP) -> tuple[int, str]:
    tenant_id, _key = cloud.tenant()
    with cloud.session() as s:
        site = sites.add_origin(s, tenant_id, origin)
    return tenant_id, site.site_key


def _event(**kw: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "type": "pageview",
        "bid": "b" * 20,
        "sid": "s" * 20,
        "at": datetime.now(UTC).isoformat(),
        "url": "https://shop.example/?utm_source=yandex&utm_medium=cpc",
        "utm": {"source": "yandex", "medium": "cpc"},
    }
    return doc | kw


def _post(cloud: Cloud, key: str, events: list[dict[str, object]], **headers: str) -> httpx.Response:
    sent = {"Origin": SHOP, "User-Agent": UA, "Content-Type": "text/plain;charset=UTF-8"} | headers
    return cloud.http.post(f"/t/{key}/collect", json={"v": 1, "events": events}, headers=sent)


def _jobs(cloud: Cloud) -> list[dict[str, object]]:
    with cloud.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT args FROM job WHERE name = :n"), {"n": TRACKED.name}).all()
    out = []
    for (args,) in rows:
        out.append(args if isinstance(args, dict) else __import__("json").loads(args))
    return out


def test_cors_answers_only_the_sites_registered_origins(served: Cloud) -> None:
    _tenant, key = _site(served)
    ok = served.http.options(
        f"/t/{key}/collect", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    )
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == SHOP
    assert "POST" in ok.headers["access-control-allow-methods"]
    evil = served.http.options(f"/t/{key}/collect", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "access-control-allow-origin" not in evil.headers
    refused = _post(served, key, [_event()], Origin="https://evil.example")
    assert refused.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed"
    assert _post(served, "s_nope", [_event()]).status_code == 404


def test_a_batch_is_stored_once_with_identifiers_rekeyed_and_identity_told(served: Cloud) -> None:
    tenant_id, key = _site(served)
    phone, email = normalize_phone("8 (916) 123-45-67"), normalize_email(" Buyer@Mail.RU ")
    view = _event()
    order = _event(
        type="order",
        ids={"phone": hash_identifier(phone), "email": hash_identifier(email), "user_id": "42"},
        props={"order_id": "A-1", "total": 1990},
    )
    for _ in range(2):  # a retry after a lost answer stores nothing twice
        resp = _post(served, key, [view, order])
        assert resp.status_code == 204, resp.text
        assert resp.headers["access-control-allow-origin"] == SHOP
    with Session(served.engine) as s:
        stored = events_where(s, tenant_id)
    assert [e.type for e in stored] == [EventType.PAGEVIEW, EventType.ORDER] or sorted(
        e.type for e in stored
    ) == sorted([EventType.PAGEVIEW, EventType.ORDER])
    by_type = {e.type: e for e in stored}
    assert by_type[EventType.PAGEVIEW].utm == {"source": "yandex", "medium": "cpc"}
    keys = load_identity_keys(served.url)
    ids = {i.kind: i.hash for i in by_type[EventType.ORDER].identifiers}
    assert ids[IdentifierKind.PHONE] == keys.hash(phone)  # what a receipt with this phone gets
    assert ids[IdentifierKind.EMAIL] == keys.hash(email)
    assert hash_identifier(phone) not in str(by_type[EventType.ORDER])
    assert by_type[EventType.ORDER].properties == {"order_id": "A-1", "total": 1990}
    # One EventsTracked for the first batch (the order holds identifiers), none for the resend.
    jobs = _jobs(served)
    assert len(jobs) == 1
    assert jobs[0]["tenant_id"] == tenant_id
    assert set(jobs[0]["event_ids"]) == {view["id"], order["id"]}  # type: ignore[arg-type]


def test_an_id_twice_in_one_batch_is_one_event(served: Cloud) -> None:
    tenant_id, key = _site(served)
    twice = _event()
    identify = _event(type="identify", ids={"user_id": "7"})
    assert _post(served, key, [twice, identify, twice | {"url": "https://shop.example/b"}]).status_code == 204
    with Session(served.engine) as s:
        stored = events_where(s, tenant_id)
    assert sorted(e.event_id for e in stored) == sorted([twice["id"], identify["id"]])
    assert {e.url for e in stored if e.event_id == twice["id"]} == {"https://shop.example/b"}
    assert [sorted(j["event_ids"]) for j in _jobs(served)] == [sorted([twice["id"], identify["id"]])]


def test_a_nul_in_a_url_is_stored_as_the_replacement_character(served: Cloud) -> None:
    # PostgreSQL's text refuses NUL: without the replacement the batch failed for good, retried forever
    tenant_id, key = _site(served)
    odd = _event(url="https://shop.example/search?q=a\u0000b", props={"title": "\u0000"})
    assert _post(served, key, [odd]).status_code == 204
    with Session(served.engine) as s:
        [stored] = events_where(s, tenant_id)
    assert stored.url == "https://shop.example/search?q=a\ufffdb"


def test_a_connection_postgresql_dropped_is_replaced_without_losing_the_batch(served: Cloud) -> None:
    if not served.url.startswith("postgresql"):
        pytest.skip("the collector's own connections are PostgreSQL's")
    tenant_id, key = _site(served)
    assert _post(served, key, [_event()]).status_code == 204  # the collector's pool holds a connection now
    with served.engine.connect() as conn:  # a restart or an idle timeout of the server, as it looks here
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert _post(served, key, [_event()]).status_code == 204
    with Session(served.engine) as s:
        assert len(events_where(s, tenant_id)) == 2


def test_pageviews_alone_tell_identity_nothing(served: Cloud) -> None:
    _tenant, key = _site(served)
    assert _post(served, key, [_event(), _event(yclid="123", gclid="abc")]).status_code == 204
    assert _jobs(served) == []


def test_a_partly_bad_batch_stores_the_good_and_names_the_bad(served: Cloud) -> None:
    tenant_id, key = _site(served)
    good = _event()
    bad_hash = _event(type="subscribe", ids={"email": "john@example.com"})  # a raw e-mail: refused
    bad_type = _event(type="receipt_open")
    resp = _post(served, key, [good, bad_hash, bad_type, "junk"])  # type: ignore[list-item]
    assert resp.status_code == 200
    body = resp.json()
    assert body["stored"] == 1
    fields = [r["field"] for r in body["rejected"]]
    assert fields == ["events[1].ids.email", "events[2].type", "events[3]"]
    assert body["rejected"][0]["id"] == bad_hash["id"]
    with Session(served.engine) as s:
        assert [e.event_id for e in events_where(s, tenant_id)] == [good["id"]]
    only_bad = _post(served, key, [_event(id="not-a-uuid")])
    assert only_bad.status_code == 422
    assert only_bad.json()["code"] == "invalid_events"
    assert "events[0].id" in only_bad.json()["detail"]
    not_json = served.http.post(
        f"/t/{key}/collect", content=b"{oops", headers={"Origin": SHOP, "User-Agent": UA}
    )
    assert not_json.status_code == 400
    assert not_json.json()["code"] == "invalid_batch"


def test_bots_are_dropped_silently(served: Cloud) -> None:
    tenant_id, key = _site(served)
    headless = UA.replace("Chrome/", "HeadlessChrome/")
    for agent in (headless, "TelegramBot (like TwitterBot)", "python-requests/2.31"):
        assert _post(served, key, [_event()], **{"User-Agent": agent}).status_code == 204
    with Session(served.engine) as s:
        assert events_where(s, tenant_id) == []


def test_a_burst_from_one_source_is_refused_and_bodies_are_limited(served: Cloud) -> None:
    tenant_id, key = _site(served)
    answers = [_post(served, key, [_event() for _ in range(100)]).status_code for _ in range(6)]
    assert answers[:4] == [204] * 4
    assert 429 in answers[4:]
    with Session(served.engine) as s:
        assert len(events_where(s, tenant_id)) == 400
    huge = served.http.post(
        f"/t/{key}/collect", content=b"x" * (65 * 1024), headers={"Origin": SHOP, "User-Agent": UA}
    )
    assert huge.status_code == 413


def test_behind_the_retailers_proxy_the_collector_sets_the_browser_id_cookie(served: Cloud) -> None:
    tenant_id, key = _site(served)
    first_party = {"X-Forwarded-Host": "shop.example", "Origin": SHOP}
    resp = _post(served, key, [_event(bid="script-made-id-1")], **first_party)
    assert resp.status_code == 204
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("ec_bid=script-made-id-1;")
    assert "HttpOnly" in cookie
    assert "Max-Age=63072000" in cookie
    assert "Secure" in cookie
    # Later pages: the script cannot read the HttpOnly cookie and says something else; the cookie wins.
    again = _post(
        served, key, [_event(bid="another-page-id")], Cookie="ec_bid=script-made-id-1", **first_party
    )
    assert again.status_code == 204
    with Session(served.engine) as s:
        assert {e.browser_id for e in events_where(s, tenant_id)} == {"script-made-id-1"}
    # Called cross-site (no proxy), the cloud sets no cookie: it would be a third-party one.
    assert "set-cookie" not in _post(served, key, [_event()]).headers


def test_the_script_is_served_per_site_and_small(served: Cloud) -> None:
    _tenant, key = _site(served)
    resp = served.http.get(f"/t/{key}/t.js")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert f'"key":"{key}"' in resp.text
    assert "__EC_CONFIG__" not in resp.text
    assert len(gzip.compress(resp.content, 9)) <= 5 * 1024
    assert served.http.get(f"/t/{key}.js").text == resp.text
    assert served.http.get("/t/s_unknown/t.js").status_code == 404
    assert len(gzip.compress(tracker_script("s_" + "x" * 16).encode(), 9)) <= 5 * 1024


def test_integrations_manage_the_sites_origins(served: Cloud) -> None:
    _tenant_id, api_key = served.tenant()
    auth = {"Authorization": f"Bearer {api_key}"}
    assert served.http.get("/v1/tracking/site", headers=auth).status_code == 404
    made = served.http.post(
        "/v1/tracking/site/origins", json={"origin": "HTTPS://Shop.Example/"}, headers=auth
    )
    assert made.status_code == 200, made.text
    assert made.json()["origins"] == [SHOP]
    key = made.json()["site_key"]
    more = served.http.post(
        "/v1/tracking/site/origins", json={"origin": "https://m.shop.example"}, headers=auth
    )
    assert more.json()["site_key"] == key
    assert more.json()["origins"] == ["https://m.shop.example", SHOP]
    assert (
        served.http.post("/v1/tracking/site/origins", json={"origin": "ftp://x"}, headers=auth).status_code
        == 422
    )
    _other_id, other_key = served.tenant("Other")
    taken = served.http.post(
        "/v1/tracking/site/origins", json={"origin": SHOP}, headers={"Authorization": f"Bearer {other_key}"}
    )
    assert taken.status_code == 409
    gone = served.http.delete(
        "/v1/tracking/site/origins", params={"origin": "https://m.shop.example"}, headers=auth
    )
    assert gone.json()["origins"] == [SHOP]
    assert served.http.get("/v1/tracking/site", headers=auth).json()["site_key"] == key
    assert served.http.get("/v1/tracking/site").status_code == 401


def test_the_cli_registers_a_site(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cloud.accounts import tenants
    from cloud.cli import main

    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s:
        tenant, _ = tenants.create_tenant(s, "Zoo")
        tenant_id = tenant.id
    engine.dispose()
    argv = ["--database-url", database_url, "tracking", "site", "add", "--tenant", str(tenant_id)]
    assert main([*argv, "--origin", SHOP, "--origin", "https://m.shop.example", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["origins"] == ["https://m.shop.example", SHOP]
    assert doc["script_path"] == f"/t/{doc['site_key']}/t.js"
    assert main(["--database-url", database_url, "tracking", "site", "show", "--tenant", str(tenant_id)]) == 0
    assert "<script async src=" in capsys.readouterr().out


def test_postgresql_keeps_events_in_monthly_partitions(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("partitions are PostgreSQL's")
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            assert partitions.is_partitioned(conn)
            now = datetime.now(UTC)
            have = partitions.existing(conn)
            assert partitions.partition_name(partitions.month_start(now)) in have
            assert partitions.partition_name(partitions.month_start(now, 3)) in have
            tenant = conn.execute(
                sa.text("INSERT INTO tenant (name, created_at) VALUES ('P', now()) RETURNING id")
            )
            tenant_id = tenant.scalar()
            far = partitions.month_start(now, 8)
            conn.execute(
                sa.text(
                    "INSERT INTO tracking_event (event_id, received_at, tenant_id, type) "
                    "VALUES (:id, :at, :t, 'pageview')"
                ),
                {"id": str(uuid.uuid4()), "at": far, "t": tenant_id},
            )
            # Nobody made that month: the row sits in the default partition until the job makes it.
            assert conn.execute(sa.text(f"SELECT count(*) FROM {partitions.DEFAULT}")).scalar() == 1
            made = partitions.ensure_months(conn, now, ahead=9)
            assert partitions.partition_name(far) in made
            assert conn.execute(sa.text(f"SELECT count(*) FROM {partitions.DEFAULT}")).scalar() == 0
            name = partitions.partition_name(far)
            assert conn.execute(sa.text(f"SELECT count(*) FROM {partitions.SCHEMA}.{name}")).scalar() == 1
            assert partitions.ensure_months(conn, now, ahead=9) == []
    finally:
        engine.dispose()
