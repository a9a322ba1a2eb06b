"""A POS simulator: drives the checkout API like a real till at a set rate, for the demo and tests.

It plays both the POS software and the cashier: opens a checkout, sometimes scans a loyalty card, asks
for the contact, answers the prompt the way buyers do (confirm, type a phone, give an e-mail, decline),
"prints" the receipt on an imaginary fiscal register (its own FN serial, FD numbers and fiscal signs),
and closes the checkout with that fiscal data.
"""

import argparse
import json
import os
import random
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from pos_plugin.api import PREFIX
from pos_plugin.contract import AskMode

TOKEN_ENV = "ECHECK_POS_TOKEN"
Json = dict[str, Any]


class AgentRefused(RuntimeError):
    """The agent answered a checkout call with an error; the message carries its sentence."""


GOODS = [
    ("Молоко 3,2% 1 л", 8990, "vat10"),
    ("Хлеб Бородинский", 5490, "vat10"),
    ("Кофе молотый 250 г", 42900, "vat20"),
    ("Шуруповёрт аккумуляторный", 549000, "vat20"),
    ("Краска интерьерная 2,5 л", 129900, "vat20"),
    ("Лампа LED E27", 19900, "vat20"),
    ("Яблоки, кг", 13990, "vat10"),
    ("Пакет-майка", 990, "vat20"),
]


@dataclass
class SimReport:
    made: int = 0
    with_contact: int = 0
    members: int = 0
    cancelled: int = 0
    errors: int = 0
    retries: int = 0
    keys: list[str] = field(default_factory=list)


class FiscalRegister:
    """An imaginary register: one FN serial, FD numbers that only go up, a fiscal sign per document."""

    def __init__(self, rng: random.Random, fn_serial: str | None = None, first_fd: int = 1) -> None:
        self.rng = rng
        self.fn_serial = fn_serial or "92514403" + f"{rng.randrange(10**8):08d}"
        self.registration_number = "0001633468" + f"{rng.randrange(10**6):06d}"
        self.fd = first_fd - 1
        self.shift = 1
        self.receipt_in_shift = 0

    def fiscalize(self) -> Json:
        self.fd += 1
        self.receipt_in_shift += 1
        return {
            "fn_serial": self.fn_serial,
            "fd_number": self.fd,
            "fpd": self.rng.randrange(10**8, 2**32 - 1),
            "registration_number": self.registration_number,
            "shift_number": self.shift,
            "receipt_number": self.receipt_in_shift,
            "issued_at": datetime.now().replace(microsecond=0).isoformat(),
            "calculation_type": 1,
        }


def random_phone(rng: random.Random) -> str:
    digits = f"9{rng.randrange(10**9):09d}"
    spellings = [f"8{digits}", f"+7 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}", digits]
    return rng.choice(spellings)


class Till:
    def __init__(
        self,
        client: httpx.Client,
        rng: random.Random,
        register: FiscalRegister,
        members: float,
        ask_agent_s: float | None = None,
        run_id: str | None = None,
    ) -> None:
        self.ask_agent_s = ask_agent_s  # let the agent ask in its cashier popup, waiting at most this long
        # Checkout ids are unique per run: the agent remembers ended checkouts, and a second run with the
        # same numbers would be refused (409) checkout after checkout.
        self.run_id = run_id or secrets.token_hex(3)
        self.client = client
        self.rng = rng
        self.register = register
        self.members = members

    def call(self, method: str, path: str, report: SimReport, **kwargs: Any) -> Json:
        """A till retries a dead agent a few times, then goes on without it: the sale is never blocked."""
        for attempt in range(20):
            try:
                response = self.client.request(method, PREFIX + path, **kwargs)
            except httpx.TransportError:
                report.retries += 1
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            if response.is_error:
                raise AgentRefused(f"{method} {path}: {response.status_code} {_detail(response)}")
            answer: Json = response.json()
            return answer
        raise RuntimeError(f"agent unreachable for {method} {path}")

    def checkout(self, number: int, report: SimReport) -> None:
        rng = self.rng
        body = {"checkout_id": f"T1-{self.run_id}-{number:06d}"}
        cid = self.call("POST", "/checkouts", report, json=body)["checkout_id"]
        is_member = rng.random() < self.members
        if is_member:
            report.members += 1
            card = {
                "card_number": f"277{rng.randrange(10**10):010d}",
                "holder_name": "Покупатель",
                "phone": random_phone(rng),
            }
            self.call("POST", f"/checkouts/{cid}/card", report, json=card)
        if self.ask_agent_s:  # the cashier answers in echeck's popup (or nobody does: no contact)
            params = {"wait": self.ask_agent_s}
            self.call("POST", f"/checkouts/{cid}/ask-contact", report, params=params)
        else:
            prompt = self.call("POST", f"/checkouts/{cid}/ask-contact", report)
            answer = self.cashier_answer(prompt["mode"])
            self.call("POST", f"/checkouts/{cid}/contact", report, json=answer)
        if rng.random() < 0.01:
            self.call("POST", f"/checkouts/{cid}/cancel", report)
            report.cancelled += 1
            return
        result = self.call("POST", f"/checkouts/{cid}/close", report, json=self.sale())
        report.made += 1
        report.with_contact += result["contact_masked"] is not None
        report.keys.append(result["receipt_key"])

    def cashier_answer(self, mode: str) -> Json:
        roll = self.rng.random()
        if mode == AskMode.CONFIRM:  # "…your phone ends in 45-67?" — most say yes
            if roll < 0.9:
                return {"confirm": True}
            return {"contact": random_phone(self.rng)}
        if roll < 0.65:
            return {"contact": random_phone(self.rng)}
        if roll < 0.8:
            return {"contact": f"buyer{self.rng.randrange(10**6)}@example.ru"}
        return {"contact": None, "skipped": True}

    def sale(self) -> Json:
        items, total = [], 0
        for _ in range(self.rng.randint(1, 5)):
            name, price, vat = self.rng.choice(GOODS)
            qty = self.rng.randint(1, 3)
            items.append(
                {
                    "name": name,
                    "price": price,
                    "quantity": str(Decimal(qty)),
                    "total": price * qty,
                    "vat": vat,
                }
            )
            total += price * qty
        kind = "card" if self.rng.random() < 0.7 else "cash"
        paid = total if kind == "card" else -(-total // 10000) * 10000  # cash is rounded up to 100 rubles
        return {
            "fiscal": self.register.fiscalize(),
            "items": items,
            "payments": [{"kind": kind, "amount": paid}],
            "total": total,
        }


def simulate(
    agent_url: str,
    receipts: int,
    rate: float,
    members: float,
    seed: int | None,
    fn_serial: str | None = None,
    progress: bool = False,
    ask_agent_s: float | None = None,
    token: str | None = None,
) -> SimReport:
    rng = random.Random(seed)
    report = SimReport()
    interval = 1.0 / rate if rate > 0 else 0.0
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=agent_url, timeout=10 + (ask_agent_s or 0), headers=headers) as client:
        till = Till(client, rng, FiscalRegister(rng, fn_serial), members, ask_agent_s)
        start = time.monotonic()
        for n in range(1, receipts + 1):
            try:
                till.checkout(n, report)
            except RuntimeError as exc:  # AgentRefused, or the agent unreachable
                report.errors += 1
                print(f"checkout {n}: {exc}", file=sys.stderr)
            if progress:
                print(json.dumps({"progress": n, "of": receipts}), flush=True)
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="echeck-pos-sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default="http://127.0.0.1:8765", help="the agent's checkout API")
    parser.add_argument("--receipts", type=int, default=100, help="how many checkouts to run (default 100)")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="checkouts per second; 0 = as fast as possible"
    )
    parser.add_argument("--members", type=float, default=0.4, help="share of buyers with a loyalty card")
    parser.add_argument("--seed", type=int, help="random seed, for repeatable runs")
    parser.add_argument("--fn-serial", help="the imaginary register's FN serial (16 digits)")
    parser.add_argument("--progress", action="store_true", help="print a JSON line after every checkout")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"the POS token (`echeck-agent pos-token`), sent as Authorization: Bearer; default ${TOKEN_ENV}",
    )
    parser.add_argument("--report", type=Path, help="write the full report (with every receipt key) here")
    parser.add_argument(
        "--atol",
        metavar="URL",
        help="ATOL mode: post ATOL driver tasks to this ATOL web server (or echeck's ATOL proxy) instead",
    )
    parser.add_argument(
        "--ask-agent",
        type=float,
        metavar="SECONDS",
        help="let the agent ask the cashier in its popup (echeck-ui) and wait at most SECONDS per checkout, "
        "instead of answering the prompt itself",
    )
    args = parser.parse_args(argv)
    if args.atol:  # a POS that prints through ATOL's web server, with echeck's proxy in front of it
        from pos_plugin.atol_till import main_atol

        return main_atol(args)
    try:
        report = simulate(
            args.agent,
            args.receipts,
            args.rate,
            args.members,
            args.seed,
            args.fn_serial,
            args.progress,
            args.ask_agent,
            args.token,
        )
    except KeyboardInterrupt:  # Ctrl-C in the demo's terminal reaches the whole process group
        return 130
    summary = asdict(report)
    if args.report:
        args.report.write_text(json.dumps(summary), encoding="utf-8")
    summary["keys"] = len(report.keys)
    print(json.dumps({"report": summary}), flush=True)
    return 0 if report.errors == 0 else 1


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail or body)


if __name__ == "__main__":
    sys.exit(main())
