"""Attribution's read API over real HTTP: who may read it, what the summary and the lift answer, and the
errors (`{detail, code}`) for periods and counts it refuses."""

from cloud.accounts import api_keys
from tests.cloud.conftest import Cloud


def test_the_summary_and_the_lift_answer_a_read_key_and_refuse_strangers(cloud: Cloud) -> None:
    tenant_id, _key = cloud.tenant()
    with cloud.session() as s:
        _made, read_key = api_keys.add(s, tenant_id, "BI", "read", actor="test")
    auth = {"Authorization": f"Bearer {read_key}"}

    summary = cloud.http.get(
        "/v1/attribution/summary", params={"from": "2026-11-01", "to": "2026-11-30"}, headers=auth
    )
    assert summary.status_code == 200, summary.text
    doc = summary.json()
    assert (doc["from"], doc["to"], doc["model"]) == ("2026-11-01", "2026-11-30", "last_non_direct_click")
    assert (doc["receipts"], doc["ropo_revenue_share"], doc["channels"]) == (0, 0.0, [])
    markov = cloud.http.get("/v1/attribution/summary", params={"model": "markov"}, headers=auth)
    assert markov.json()["model"] == "markov"

    # Newcombe's published example (56/70 vs 48/80): 0.0524 to 0.3339
    lift = cloud.http.get(
        "/v1/attribution/lift",
        params={"treated_buyers": 56, "treated_n": 70, "holdout_buyers": 48, "holdout_n": 80},
        headers=auth,
    )
    assert lift.status_code == 200, lift.text
    got = lift.json()
    assert round(got["ci_low"], 4) == 0.0524
    assert round(got["ci_high"], 4) == 0.3339
    assert got["significant"] is True

    assert cloud.http.get("/v1/attribution/summary").status_code == 401
    backwards = cloud.http.get(
        "/v1/attribution/summary", params={"from": "2026-11-30", "to": "2026-11-01"}, headers=auth
    )
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "invalid_value"
    too_many = cloud.http.get(
        "/v1/attribution/lift",
        params={"treated_buyers": 5, "treated_n": 4, "holdout_buyers": 1, "holdout_n": 4},
        headers=auth,
    )
    assert too_many.status_code == 422
    assert too_many.json()["code"] == "invalid_value"
