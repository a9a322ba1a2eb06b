"""The local API runs its sync endpoints on a few threads (agent memory); POS calls that hold all of them
while they wait for the cashier must not keep the cashier's answers from arriving."""

from agent.bootstrap import API_THREADS
from tests.agent.test_cashier_api import Bench, ask_in_background, bench, next_prompts, open_checkout

__all__ = ["bench"]  # the fixture, used by name


def test_asks_holding_every_api_thread_still_get_the_cashiers_answers(bench: Bench) -> None:
    checkouts = [f"t{n}" for n in range(API_THREADS)]
    for cid in checkouts:
        open_checkout(bench.pos, cid)
    pending = {cid: ask_in_background(bench.pos, cid, wait=60) for cid in checkouts}
    answered: set[str] = set()
    since = -1
    while answered != set(checkouts):
        page = next_prompts(bench.ui, since)
        since = page.version
        for prompt in page.prompts:
            if prompt.checkout_id not in answered:
                url = f"/prompts/{prompt.prompt_id}/answer"
                assert bench.ui.post(url, json={"kind": "skipped"}).json() == {"accepted": True}
                answered.add(prompt.checkout_id)
    for cid, future in pending.items():
        assert future.result(timeout=60).json()["answer"] == "skipped", cid
