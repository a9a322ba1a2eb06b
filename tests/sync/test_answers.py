"""Sorting the cloud's answers alone: status, headers and body in, a verdict out."""

import json

import pytest

from sync.answers import CloudAnswer, Kind, Row, classify, problem, sort_items
from sync.protocol import BatchResult


def answer(code: int, body: object = None, retry_after: str | None = None) -> CloudAnswer:
    raw = b"" if body is None else json.dumps(body).encode()
    return CloudAnswer(code, raw, retry_after, "Reason")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (401, Kind.TOKEN_REFUSED),
        (403, Kind.TOKEN_REFUSED),
        (413, Kind.TOO_LARGE),
        (429, Kind.THROTTLED),
        (503, Kind.THROTTLED),
        (400, Kind.BATCH_REFUSED),
        (422, Kind.BATCH_REFUSED),
        (500, Kind.SERVER_FAILED),
        (502, Kind.FAILED),
        (404, Kind.FAILED),
    ],
)
def test_each_status_has_one_kind(code: int, kind: Kind) -> None:
    assert classify(answer(code, {"detail": "x"}), compressed=True).kind is kind


def test_415_means_gzip_only_while_compressing() -> None:
    assert classify(answer(415), compressed=True).kind is Kind.GZIP_REFUSED
    assert classify(answer(415), compressed=False).kind is Kind.FAILED


def test_a_revoked_register_is_told_apart_from_a_bad_token() -> None:
    revoked = classify(answer(403, {"detail": "revoked", "code": "register_revoked"}), compressed=True)
    assert revoked.revoked
    assert (revoked.detail, revoked.code) == ("revoked", "register_revoked")
    assert not classify(answer(403, {"detail": "wrong store", "code": "forbidden"}), compressed=True).revoked
    assert not classify(answer(401, {"detail": "bad token"}), compressed=True).revoked


def test_retry_after_and_details_are_read_and_bodies_need_not_be_json() -> None:
    assert classify(answer(503, retry_after="7"), compressed=True).retry_after == 7.0
    assert problem(CloudAnswer(500, b"<html>oops", None, "Internal Server Error")) == (
        "Internal Server Error",
        None,
    )
    assert problem(answer(422, {"detail": "x" * 1000}))[0] == "x" * 300


def test_a_2xx_that_is_no_batch_result_is_unreadable() -> None:
    verdict = classify(answer(200, {"accepted": [{"index": "x"}]}), compressed=True)
    assert verdict.kind is Kind.UNREADABLE
    assert verdict.errors >= 1


def test_sorting_acks_only_rows_named_by_position_and_key() -> None:
    rows = [Row(10, "a"), Row(11, "b"), Row(12, "c"), Row(13, "d")]
    result = BatchResult.model_validate(
        {
            "accepted": [
                {"index": 0, "key": "a", "status": "stored"},
                {"index": 1, "key": "zzz", "status": "stored"},  # about some other receipt
                {"index": 2, "key": "c", "status": "conflict"},
                {"index": 2, "key": "c", "status": "duplicate"},  # said twice: acked once
                {"index": 99, "key": "q", "status": "stored"},  # no such position
            ],
            "rejected": [{"index": 3, "reason": "bad"}, {"index": 0, "reason": "already acked"}],
        }
    )
    out = sort_items(rows, result)
    assert out.acked == [10, 12]
    assert out.conflicts == ["c"]
    assert out.wrong_keys == [("b", "zzz")]
    assert out.rejected == [(Row(13, "d"), "bad")]
    assert out.unanswered == [11]
