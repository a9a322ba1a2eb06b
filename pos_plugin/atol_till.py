"""The POS simulator's ATOL mode: a till that prints through ATOL's web server (JSON tasks over HTTP).

It posts `sell` tasks to POST /api/v2/requests and polls GET /api/v2/requests/{uuid} about every 20 ms,
as POS software does with ATOL's driver. Pointed at echeck's ATOL proxy, the agent adds the buyer's
contact. Loyalty members' phones come from the POS itself (clientInfo.emailOrPhone), like a POS that
knows its loyalty program; the others are left to the agent's popup.
"""

import argparse
import json
import random
import sys
import time
import uuid
from dataclasses import asdict
from typing import Any

import httpx

from pos_plugin.simulator import GOODS, SimReport, random_phone

POLL_S = 0.02
RESULT_DEADLINE_S = 60.0


def atol_task(rng: random.Random, contact: str | None) -> dict[str, Any]:
    items, total = [], 0
    for _ in range(rng.randint(1, 5)):
        name, price, vat = rng.choice(GOODS)
        qty = rng.randint(1, 3)
        items.append(
            {
                "type": "position",
                "name": name,
                "price": price / 100,
                "quantity": qty,
                "amount": price * qty / 100,
                "paymentMethod": "fullPayment",
                "paymentObject": "commodity",
                "tax": {"type": vat},
            }
        )
        total += price * qty
    card = rng.random() < 0.7
    paid = total if card else -(-total // 10000) * 10000
    task: dict[str, Any] = {
        "type": "sell",
        "taxationType": "osn",
        "operator": {"name": "Кассир 1"},
        "items": [*items, {"type": "text", "text": "Спасибо за покупку!"}],
        "payments": [{"type": "electronically" if card else "cash", "sum": paid / 100}],
        "total": total / 100,
    }
    if contact:
        task["clientInfo"] = {"emailOrPhone": contact}
    return task


def checkout(client: httpx.Client, rng: random.Random, members: float, report: SimReport) -> None:
    member = rng.random() < members
    report.members += member
    contact = "+7" + random_phone(rng)[-10:] if member else None
    request_id = str(uuid.uuid4())
    posted = client.post("/api/v2/requests", json={"uuid": request_id, "request": [atol_task(rng, contact)]})
    if posted.status_code != 201:
        raise RuntimeError(f"ATOL web server answered {posted.status_code}: {posted.text[:200]}")
    deadline = time.monotonic() + RESULT_DEADLINE_S
    while time.monotonic() < deadline:
        result = client.get(f"/api/v2/requests/{request_id}").json()["results"][0]
        if result["status"] == "ready":
            params = result["result"]["fiscalParams"]
            report.made += 1
            report.with_contact += contact is not None
            report.keys.append(
                f"{params['fnNumber']}:{params['fiscalDocumentNumber']}:{params['fiscalDocumentSign']}"
            )
            return
        if result["status"] not in ("wait", "inProgress"):
            raise RuntimeError(f"receipt task {result['status']}: {result.get('errorDescription')}")
        time.sleep(POLL_S)
    raise RuntimeError("receipt task not done in time")


def main_atol(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    report = SimReport()
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    with httpx.Client(base_url=args.atol, timeout=60) as client:
        start = time.monotonic()
        for n in range(1, args.receipts + 1):
            try:
                checkout(client, rng, args.members, report)
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
                report.errors += 1
                print(f"checkout {n}: {exc}", file=sys.stderr)
            if args.progress:
                print(json.dumps({"progress": n, "of": args.receipts}), flush=True)
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    summary = asdict(report)
    if args.report:
        args.report.write_text(json.dumps(summary), encoding="utf-8")
    summary["keys"] = len(report.keys)
    print(json.dumps({"report": summary}), flush=True)
    return 0 if report.errors == 0 else 1
