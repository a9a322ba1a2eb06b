"""The batching policy alone: values in, values out (no outbox, no HTTP, no clock)."""

from sync.batching import Batching, Round, Suspect, cut
from sync.settings import SyncSettings


def policy(**settings: int) -> Batching:
    return Batching.start(SyncSettings(store_id=1, **settings))


def test_a_round_reads_in_flight_batches_while_all_is_well_and_one_after_a_failure() -> None:
    start = policy(batch_size=100, in_flight=2)
    assert start.plan(failures=0)[1] == Round(rows=200, limit=100)
    assert start.plan(failures=1)[1] == Round(rows=100, limit=100)
    suspected = start.failed_alone(7)
    assert suspected.plan(failures=0)[1] == Round(rows=100, limit=100), "one at a time while isolating"
    assert policy(batch_size=100, in_flight=1).plan(failures=0)[1] == Round(rows=100, limit=100)


def test_full_batches_grow_to_the_backlog_size_and_a_partial_one_returns_to_the_usual() -> None:
    p = policy(batch_size=100, backlog_batch_size=1000)
    sizes = []
    for _ in range(6):
        p, plan = p.plan(failures=0)
        p = p.synced(sent=plan.limit)
        sizes.append(p.limit)
    assert sizes == [200, 400, 800, 1000, 1000, 1000]
    p, _ = p.plan(failures=0)
    assert p.synced(sent=3).limit == 100


def test_the_backlog_size_never_passes_the_protocols_maximum() -> None:
    assert policy(batch_size=100, backlog_batch_size=50_000).backlog_limit == 1000
    assert policy(batch_size=300, backlog_batch_size=10).backlog_limit == 300


def test_a_413_halves_and_becomes_a_ceiling_a_backlog_never_grows_into() -> None:
    p = policy(batch_size=100, backlog_batch_size=1000)
    p, _ = p.plan(failures=0)
    p = p.synced(sent=100)  # 200
    p, plan = p.plan(failures=0)
    p = p.synced(sent=plan.limit)  # 400
    p = p.too_large(sent=400)
    assert (p.limit, p.ceiling) == (200, 200)
    for _ in range(3):
        p, plan = p.plan(failures=0)
        p = p.synced(sent=plan.limit)
        assert p.limit == 200
    assert policy(batch_size=1).too_large(sent=1).limit == 1, "never below one"


def test_bisecting_halves_down_to_one_receipt() -> None:
    p = policy(batch_size=16)
    limits = []
    sent = 16
    while sent > 1:
        p = p.bisect(sent)
        sent = p.limit
        limits.append(sent)
    assert limits == [8, 4, 2, 1]


def test_a_suspect_is_counted_probed_acquitted_or_settled() -> None:
    p = policy(poison_after=3)
    for _ in range(2):
        p = p.failed_alone(42)
    assert p.suspect == Suspect(42, 2)
    assert not p.probe_due
    p = p.failed_alone(42)
    assert p.probe_due
    assert p.failed_alone(43).suspect == Suspect(43, 1), "another row starts its own count"
    acquitted = p.acquitted()
    assert acquitted.suspect == Suspect(42, 0)
    assert not acquitted.probe_due
    assert p.settled().suspect is None
    assert p.synced(sent=1, acked_ids=[42]).suspect is None, "acked after all: no longer a suspect"
    assert p.synced(sent=1, acked_ids=[5]).suspect == Suspect(42, 3)


def test_cut_keeps_the_order_and_the_last_short_batch() -> None:
    assert cut(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert cut([], 3) == []
