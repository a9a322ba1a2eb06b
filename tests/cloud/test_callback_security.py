"""Provider callbacks: no replays, no secret in a URL that gets logged, credentials encrypted at rest."""

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from cloud.db import make_engine
from cloud.delivery import config as delivery_config
from cloud.delivery.cascade import Channel
from tests.cloud.conftest import Cloud
from tests.support.cloud_process import cloud_process, seeded_database

MAIL_SECRET = "mail-webhook-secret-1"
VIBER_TOKEN = "viber-auth-token-1"
SMS_SECRET = "Xq7-sms-path-token-9f3k2"


def _configure(session: Session, tenant_id: int) -> None:
    delivery_config.set_channel(
        session,
        tenant_id,
        Channel.EMAIL,
        {"host": "127.0.0.1", "sender": "shop@example.ru", "webhook_secret": MAIL_SECRET},
    )
    delivery_config.set_channel(session, tenant_id, Channel.VIBER, {"auth_token": VIBER_TOKEN})
    delivery_config.set_channel(
        session,
        tenant_id,
        Channel.SMS,
        {"api_id": "sms-api-id-1", "callback_secret": SMS_SECRET},
    )


def _mail(
    http: httpx.Client, tenant_id: int, doc: object, stamp: int, secret: str = MAIL_SECRET
) -> httpx.Response:
    body = json.dumps(doc).encode()
    sig = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Echeck-Timestamp": str(stamp), "X-Echeck-Signature": f"sha256={sig}"}
    return http.post(f"/v1/delivery/callbacks/{tenant_id}/email", content=body, headers=headers)


def _viber(http: httpx.Client, tenant_id: int, doc: object) -> httpx.Response:
    body = json.dumps(doc).encode()
    sig = hmac.new(VIBER_TOKEN.encode(), body, hashlib.sha256).hexdigest()
    return http.post(
        f"/v1/delivery/callbacks/{tenant_id}/viber", content=body, headers={"X-Viber-Content-Signature": sig}
    )


def test_a_replayed_email_callback_applies_nothing_and_an_old_one_is_refused(cloud: Cloud) -> None:
    tenant_id, _ = cloud.tenant()
    with cloud.session() as s:
        _configure(s, tenant_id)
    now = int(time.time())
    doc = {"events": [{"event": "delivered", "message_id": "<m1@echeck>", "timestamp": now}]}
    first = _mail(cloud.http, tenant_id, doc, now)
    assert first.status_code == 200, first.text
    assert first.json() == {"applied": 0, "late": 0, "unknown": 1, "replayed": 0}
    replay = _mail(cloud.http, tenant_id, doc, now)  # the same request, captured and sent again
    assert replay.json() == {"applied": 0, "late": 0, "unknown": 0, "replayed": 1}
    # Re-signed with an old timestamp (a capture from yesterday): refused outright.
    old = _mail(cloud.http, tenant_id, doc, now - 86400)
    assert old.status_code == 401
    assert old.json()["code"] == "unauthorized"
    # Signed the old way (body only, no timestamp): refused.
    body = json.dumps(doc).encode()
    sig = hmac.new(MAIL_SECRET.encode(), body, hashlib.sha256).hexdigest()
    legacy = cloud.http.post(
        f"/v1/delivery/callbacks/{tenant_id}/email",
        content=body,
        headers={"X-Echeck-Signature": f"sha256={sig}"},
    )
    assert legacy.status_code == 401


def test_a_replayed_viber_callback_applies_nothing_and_an_old_one_is_refused(cloud: Cloud) -> None:
    tenant_id, _ = cloud.tenant()
    with cloud.session() as s:
        _configure(s, tenant_id)
    now_ms = int(time.time() * 1000)
    doc = {"event": "delivered", "timestamp": now_ms, "message_token": 5000000001, "user_id": "u"}
    assert _viber(cloud.http, tenant_id, doc).json()["replayed"] == 0
    assert _viber(cloud.http, tenant_id, doc).json()["replayed"] == 1
    stale = _viber(cloud.http, tenant_id, {**doc, "timestamp": now_ms - 3600_000})
    assert stale.status_code == 401


def test_credentials_are_encrypted_at_rest_and_shown_redacted(cloud: Cloud) -> None:
    tenant_id, _ = cloud.tenant()
    with cloud.session() as s:
        _configure(s, tenant_id)
        shown = delivery_config.describe(s, tenant_id)
        assert delivery_config.load(s, tenant_id).channels[Channel.SMS]["callback_secret"] == SMS_SECRET
    with cloud.engine.connect() as conn:
        raw = " ".join(str(v) for (v,) in conn.execute(sa.text("SELECT settings FROM delivery_channel")))
    for secret in (MAIL_SECRET, VIBER_TOKEN, SMS_SECRET, "sms-api-id-1"):
        assert secret not in raw
        assert secret not in json.dumps(shown)
    assert "fernet:" in raw


def test_the_sms_callback_secret_is_in_the_path_and_never_in_the_log(tmp_path: Path) -> None:
    db = seeded_database(tmp_path)
    tenant_id = db.tenant_id
    engine = make_engine(db.url)
    with Session(engine) as s:
        _configure(s, tenant_id)
    engine.dispose()
    log = tmp_path / "serve.log"
    with cloud_process(db.url, log) as (base, _pid):
        line = f"sms_status\n000001-1\n103\n{int(time.time())}"
        ok = httpx.post(f"{base}/v1/delivery/callbacks/{tenant_id}/sms/{SMS_SECRET}", data={"data[]": line})
        assert ok.status_code == 200
        assert ok.text == "100"
        wrong = httpx.post(
            f"{base}/v1/delivery/callbacks/{tenant_id}/sms/not-the-token", data={"data[]": line}
        )
        assert wrong.status_code == 401
        # Someone still configured with the old query-string URL: refused, and the secret is masked too.
        old = httpx.post(
            f"{base}/v1/delivery/callbacks/{tenant_id}/sms?secret={SMS_SECRET}", data={"data[]": line}
        )
        assert old.status_code == 404
    text = log.read_text()
    assert f"/v1/delivery/callbacks/{tenant_id}/sms/***" in text  # the access log saw the request ...
    assert SMS_SECRET not in text  # ... but not the secret
