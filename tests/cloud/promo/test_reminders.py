"""The reminder before expiry, through the delivery channels to the fake providers (real SMTP and HTTP):
sent only with advertising consent, never for a redeemed code or an erased contact."""

from datetime import datetime, timedelta

from sqlmodel import select

from cloud.bootstrap import bootstrap
from cloud.db.types import utcnow
from cloud.jobs import WorkerOptions
from cloud.pages.promo import redeem
from cloud.pages.promo.models import PromoCode
from cloud.pages.promo.reminders import reminder_text, skip_reason
from cloud.privacy.consent import Purpose, Source, record_consent
from receipts.contact import parse_contact
from tests.cloud.delivery.conftest import Fakes, configure
from tests.cloud.promo.conftest import PromoRig

T0 = utcnow()


def _consent(rig: PromoRig, contact: str, granted: bool = True) -> None:
    with rig.session() as s:
        record_consent(
            s,
            rig.cloud.keys,
            tenant_id=rig.reg.tenant_id,
            contact=parse_contact(contact),
            purpose=Purpose.ADVERTISING,
            granted=granted,
            text="Согласен получать рекламу",
            text_version="v1",
            source=Source.PAGE,
            now=T0,
        )
        s.commit()


def _run_jobs_at(rig: PromoRig, when: datetime) -> None:
    """The app's job worker with its clock at `when`: every job due by then runs (deliveries too)."""
    runtime = bootstrap(rig.cloud.engine, "https://r.example", clock=lambda: when)
    worker = runtime.worker(WorkerOptions(name="test"))
    try:
        while worker.run_once():
            pass
    finally:
        runtime.close()


def _outcomes(rig: PromoRig) -> dict[int, str | None]:
    with rig.session() as s:
        return {row.receipt_id: row.reminder for row in s.exec(select(PromoCode))}


def test_reminders_go_through_the_cascade_only_with_advertising_consent(rig: PromoRig, fakes: Fakes) -> None:
    base = str(rig.cloud.http.base_url).rstrip("/")
    with rig.session() as s:
        configure(s, rig.reg.tenant_id, fakes, base)
    rig.rule("next10", valid_days=2, remind_before_h=24)
    contacts = ["anna@example.com", "+79160000002", "+79160000003", "+79160000004", "+79160000005", None]
    anna, viber, no_consent, withdrawn, redeemed, anonymous = rig.receipts(contacts)
    for c in ("anna@example.com", "+79160000002", "+79160000004", "+79160000005"):
        _consent(rig, c)
    _consent(rig, "+79160000004", granted=False)  # the latest record wins
    for rid in (anna, viber, no_consent, withdrawn, redeemed, anonymous):
        assert rig.issue(rid, now=T0) is not None
    with rig.session() as s:
        code = s.exec(select(PromoCode).where(PromoCode.receipt_id == redeemed)).one().code
        redeem.redeem(
            s, rig.reg.tenant_id, code, redeem.Purchase(rig.reg.store_id), "idem-redeemed", "test", T0
        )

    _run_jobs_at(rig, T0 + timedelta(hours=23))  # before the reminders are due: e-receipts only
    assert set(_outcomes(rig).values()) == {None}
    mails_before = len(fakes.mail.messages)
    _run_jobs_at(rig, T0 + timedelta(hours=25))

    outcomes = _outcomes(rig)
    assert outcomes == {
        anna: "sent",
        viber: "sent",
        no_consent: "no_consent",
        withdrawn: "no_consent",
        redeemed: None,  # its reminder was cancelled when it was redeemed
        anonymous: "erased",  # no contact to remind
    }
    reminder_mails = [m for m in fakes.mail.messages[mails_before:] if "промокод" in m["subject"]]
    assert [m["to"] for m in reminder_mails] == ["anna@example.com"]
    viber_texts = [m["text"] for m in fakes.viber.messages if "Промокод" in m["text"]]
    assert len(viber_texts) == 1
    assert "−10 % на следующую покупку" in viber_texts[0]
    assert "https://r.example/r/" in viber_texts[0]  # the e-receipt's own link, where the code is shown
    assert not [m for m in fakes.sms.messages if "Промокод" in m["text"]]
    _run_jobs_at(rig, T0 + timedelta(hours=30))  # nothing runs twice
    assert len([m for m in fakes.viber.messages if "Промокод" in m["text"]]) == 1


def test_an_erased_contact_gets_no_reminder(rig: PromoRig, fakes: Fakes) -> None:
    base = str(rig.cloud.http.base_url).rstrip("/")
    with rig.session() as s:
        configure(s, rig.reg.tenant_id, fakes, base)
    rig.rule("next10", valid_days=2, remind_before_h=24)
    (receipt,) = rig.receipts(["+79160000007"])
    _consent(rig, "+79160000007")
    assert rig.issue(receipt, now=T0) is not None
    r = rig.cloud.http.post(
        "/v1/privacy/erasures", json={"contact": "+79160000007"}, headers=rig.reg.tenant_auth
    )
    assert r.status_code == 201, r.text
    _run_jobs_at(rig, T0 + timedelta(hours=25))
    assert _outcomes(rig) == {receipt: "erased"}
    assert not [m for m in fakes.viber.messages + fakes.sms.messages if "Промокод" in m["text"]]


def test_skip_reasons_and_text() -> None:
    later = T0 + timedelta(hours=1)
    common = {"expires_at": later, "now": T0, "has_contact": True, "advertising": True}
    assert skip_reason(redeemed=False, **common) is None  # type: ignore[arg-type]
    assert skip_reason(redeemed=True, **common) == "redeemed"  # type: ignore[arg-type]
    assert skip_reason(redeemed=False, **{**common, "now": later}) == "expired"  # type: ignore[arg-type]
    assert skip_reason(redeemed=False, **{**common, "advertising": False}) == "no_consent"  # type: ignore[arg-type]
    when = datetime.fromisoformat("2026-12-05T15:00:00+00:00")
    assert reminder_text("ABCD2345EF", "−10 %", when, "Asia/Yekaterinburg") == (
        "Промокод ABCD2345EF (−10 %) действует до 05.12 20:00"
    )
