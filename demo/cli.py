"""`echeck-demo`: a short simulated trading day through the whole chain, then a summary.

cloud (SQLite) ← sync ← agent (outbox) ← checkout API ← POS simulator; every part a separate process.
"""

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from demo import field, marketing, tour
from demo import processes as p

# Head office's pages for the field's figures: the dashboards (cloud/reports) and the buyers' identity page.
DASHBOARDS = (
    "/reports/ropo",
    "/reports/sending",
    "/reports/elements",
    "/reports/fleet",
    "/identity",
    "/admin/page",
)

TOUR_FAILED = 3  # the trading day held, but a check of the tour (head office, privacy, the till) failed

console = Console()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="echeck-demo",
        description=__doc__.split("\n\n")[0],
        epilog="Exit 0: every receipt in the cloud exactly once and every check of the tour passed; "
        "1: receipts lost or doubled, or the demo could not run; "
        f"{TOUR_FAILED}: the receipts held but a check of the tour (head office sign-in, read-only key, "
        "erasure, doctor, the local API's guards, the POS ask) failed.",
    )
    parser.add_argument(
        "--receipts", type=int, default=300, help="checkouts in the trading day (default 300)"
    )
    parser.add_argument("--rate", type=float, default=40.0, help="checkouts per second (default 40)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the buyers (default 2026)")
    parser.add_argument("--dir", type=Path, help="where to keep databases and logs (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="leave the cloud and agent running until Ctrl-C")
    parser.add_argument(
        "--hook",
        choices=["localhost", "atol"],
        default="localhost",
        help="how the till reaches the agent: the localhost checkout API (default), or a POS printing "
        "through ATOL's web server with the agent's ATOL proxy in front of the ATOL emulator",
    )
    parser.add_argument(
        "--field",
        type=int,
        default=160,
        metavar="N",
        help="then a field simulation of N buyers in a tenant of its own: the ROPO summary measured by the "
        "cloud beside the simulator's truth (default 160; 0 skips it)",
    )
    return parser.parse_args(argv)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C, and a plain `kill` from a service manager, both end in the same clean shutdown.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="echeck-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    services: list[p.Service] = []
    try:
        return run(args, workdir, services)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: stopping the demo's processes[/]")
        return 130
    except RuntimeError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        return 1
    finally:
        for service in reversed(services):
            service.stop()


def run(args: argparse.Namespace, workdir: Path, services: list[p.Service]) -> int:
    logs = workdir / "logs"
    database_url = f"sqlite:///{workdir / 'cloud.db'}"
    cloud_port, agent_port = p.free_port(), p.free_port()
    with console.status("starting the cloud, creating a tenant and a store, enrolling the register ..."):
        tenant_id, api_key, store_id = p.prepare_cloud(database_url)
        owner = p.create_owner(database_url, tenant_id)
        cloud = p.cloud_service(database_url, cloud_port, logs / "cloud.log")
        services.append(cloud.start())
        providers = p.fakes_service(logs / "fakes.log")  # e-mail, push, Viber and SMS providers, faked
        services.append(providers.service.start())
        p.configure_delivery(database_url, tenant_id, api_key, cloud.url, providers.ports)
        campaign = marketing.Campaign(args.seed)  # head office's template, promo rule and shop, meanwhile
        campaign.start_set_up(database_url, tenant_id, cloud.url, owner, logs, services)
        atol = p.atol_bench(logs) if args.hook == "atol" else None
        if atol is not None:
            services.append(atol.emulator.start(wait_path=p.ATOL_READY))
        config = p.write_agent_config(
            workdir / "agent.toml", agent_port, workdir / "agent", atol.agent_toml if atol else ""
        )
        p.enroll_agent(config, cloud.url, p.enrollment_code(database_url, store_id))
        agent = p.agent_service(config, agent_port, logs / "agent.log")
        services.append(agent.start())
    with console.status("head office: the promo rule, the shop's tracker, the e-receipt template ..."):
        campaign.wait_set_up()
    console.print(
        f"cloud {cloud.url}  ·  agent {agent.url}  ·  tenant {tenant_id}, store {store_id}  ·  {workdir}"
    )

    report_path = workdir / "pos-report.json"
    sim_args = p.pos_simulator(agent.url, args.receipts, args.rate, args.seed, report_path)
    if atol is not None:
        sim_args += ["--atol", atol.proxy_url]
        p.wait_for_listener(atol.proxy_url)
    started = time.monotonic()
    with _progress() as progress:
        made = progress.add_task("checkouts at the till", total=args.receipts)
        acked = progress.add_task("acknowledged by the cloud", total=args.receipts)
        with (logs / "pos-sim.log").open("ab") as sim_log:
            sim = subprocess.Popen(sim_args, stdout=subprocess.PIPE, stderr=sim_log, text=True)
            assert sim.stdout is not None
            try:
                polled = 0.0
                for line in sim.stdout:
                    with contextlib.suppress(ValueError, KeyError):
                        progress.update(made, completed=json.loads(line)["progress"])
                    if time.monotonic() - polled > 0.25:  # the agent's status is not free: poll it gently
                        polled = time.monotonic()
                        progress.update(acked, completed=p.agent_status(agent.url)["outbox"]["acked"])
                sim.wait()
            finally:
                if sim.poll() is None:  # interrupted: the till stops first, then the agent and the cloud
                    sim.terminate()
                    sim.wait(10)
        if not report_path.exists():
            tail = (logs / "pos-sim.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the POS simulator stopped (exit {sim.returncode}) without a report:\n{tail}")
        report = json.loads(report_path.read_text(encoding="utf-8"))
        progress.update(acked, total=report["made"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = p.agent_status(agent.url)
            progress.update(acked, completed=status["outbox"]["acked"])
            if status["outbox"]["pending"] == 0:
                break
            time.sleep(0.2)
    elapsed = time.monotonic() - started
    campaign.start_browsing(cloud.url, api_key, store_id)  # beside the deliveries and the first checks
    delivery = _wait_for_deliveries(cloud.url, api_key)
    status = p.agent_status(agent.url)
    in_cloud = p.cloud_count(cloud.url, api_key, store_id)
    ok = report["made"] == status["outbox"]["acked"] == in_cloud and report["errors"] == 0
    _summary(report, status, in_cloud, elapsed, cloud.url, agent.url, store_id, api_key, owner, workdir)
    _delivery_summary(delivery)
    checks = _tour(
        database_url,
        tenant_id,
        api_key,
        store_id,
        owner,
        cloud.url,
        agent.url,
        config,
        status,
        providers.ports,
        args.seed,
        campaign,
    )
    if args.field > 0:
        _field(args, database_url, cloud.url, providers.ports, checks)
    if atol is not None:
        journal = p.atol_journal(atol.emulator.url)
        console.print(
            f"  ATOL emulator journal: {journal['count']} fiscal documents, "
            f"{journal['with_1008']} with tag 1008 (buyer contact)   {atol.emulator.url}/emulator/journal"
        )
    console.print(
        "[bold green]OK[/]: every receipt made is in the cloud exactly once."
        if ok
        else "[bold red]MISMATCH[/]: see the logs in " + str(logs)
    )
    for name, why in checks.failed:
        console.print(f"[bold red]TOUR CHECK FAILED[/]: {name.strip()}: {why}", markup=True, highlight=False)
    if args.keep:
        console.print("--keep: the cloud and agent stay up; press Ctrl-C to stop them.")
        with contextlib.suppress(KeyboardInterrupt):
            while all(s.running for s in services):
                time.sleep(0.5)
    return 1 if not ok else TOUR_FAILED if checks.failed else 0


def _tour(
    database_url: str,
    tenant_id: int,
    api_key: str,
    store_id: int,
    owner: tuple[str, str],
    cloud_url: str,
    agent_url: str,
    config: Path,
    status: dict[str, Any],
    fake_ports: dict[str, int],
    seed: int,
    campaign: marketing.Campaign,
) -> tour.TourRun:
    """What head office, privacy and the till added, measured now; the erasure last (it changes data)."""
    checks = tour.TourRun()
    with console.status("the tour: doctor, the local API's guards, head office, buyers, an erasure ..."):
        checks.check("echeck-agent doctor", lambda: tour.doctor(config))
        checks.check("local API guards", lambda: tour.local_api_guards(agent_url))
        checks.check("POS ask with no cashier UI", lambda: tour.ask_without_ui(agent_url))
        checks.check(
            "head office sign-in",
            lambda: tour.head_office_sign_in(cloud_url, owner, int(status["register_id"])),
        )
        checks.check(
            "read-only API key", lambda: tour.read_only_key(database_url, tenant_id, cloud_url, store_id)
        )
        campaign.before_pages()
        checks.check(
            "buyers open and click",
            lambda: tour.buyers_open_and_click(cloud_url, api_key, fake_ports, seed, campaign.visitor),
        )
        campaign.after_pages(cloud_url, api_key, store_id, int(status["register_id"]))
        checks.check(
            "erasure by phone",
            lambda: tour.erase_buyer(database_url, tenant_id, cloud_url, api_key, store_id),
        )
    table = Table(title="head office · buyers · privacy · the till", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    printed = {tour.RECEIPT_LINK: "an e-receipt", tour.RECEIPT_PDF: "its PDF"}
    links = [(printed[label], value) for label, value in checks.rows if label in printed]
    for label, value in checks.rows:
        if label not in printed:  # printed whole below: a table cell would cut it
            table.add_row(label, value, style="red" if value.startswith("FAILED") else None)
    table.add_row("wall time of these checks", f"{checks.seconds:.1f} s")
    console.print(table)
    for label, link in links:
        console.print(f"  {label:<19} {link}", soft_wrap=True)
    market, market_links = campaign.table(cloud_url)
    console.print(market)
    for line in market_links:
        console.print(line, soft_wrap=True)
    checks.failed += campaign.run.failed
    return checks


def _field(
    args: argparse.Namespace,
    database_url: str,
    cloud_url: str,
    fake_ports: dict[str, int],
    checks: tour.TourRun,
) -> None:
    """The field simulator in a tenant of its own (so the trading day's receipts stay out of its figures):
    the ROPO summary beside the truth, then the dashboards a head-office user of that tenant signs in to."""
    options = field.FieldOptions(buyers=args.field, seed=args.seed)
    try:
        with console.status(
            f"the field: a chain of {args.field} buyers through the cloud's APIs ..."
        ) as status:
            chain = field.add_tenant(cloud_url, database_url, fake_ports)
            truth, measured = field.simulate(chain, options, lambda what: status.update(what))
            head = p.create_owner(database_url, chain.tenant_id, email="head@field.example")
    except (RuntimeError, httpx.HTTPError, KeyError, ValueError) as exc:
        checks.failed.append(("field simulator", str(exc) or type(exc).__name__))
        return
    table = Table(
        title=f"the field: {args.field} buyers, ROPO measured by the cloud vs the simulator's truth",
        title_justify="left",
    )
    table.add_column("figure", style="bold")
    table.add_column("measured (cloud's APIs)", justify="right")
    table.add_column("truth (simulator)", justify="right")
    for label, got, true in field.rows(truth, measured):
        table.add_row(label, got, true)
    console.print(table)
    v = field.verdict(truth, measured)
    console.print(
        "  targets (≥ 90 % identified, ROPO ± 5 pt, lift's interval covers the effect): "
        + ("[green]met[/]" if v.ok else "[yellow]not met on this sample[/]")
    )
    try:
        rows = tour.dashboards(cloud_url, head, DASHBOARDS)
    except (tour.TourCheckFailed, httpx.HTTPError) as exc:
        checks.failed.append(("head office's dashboards (field)", str(exc) or type(exc).__name__))
        rows = []
    for label, value in rows:
        console.print(f"  {label:<20}{value}", soft_wrap=True, highlight=False)
    console.print(f"  head office (field) {cloud_url}/login   e-mail {head[0]}, password {head[1]}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _wait_for_deliveries(cloud_url: str, api_key: str, timeout: float = 60.0) -> dict[str, Any]:
    """E-receipts go out in the cloud's background worker: wait (bounded) until every one has an outcome."""
    deadline = time.monotonic() + timeout
    with console.status("delivering e-receipts (e-mail → push → Viber → SMS) ..."):
        while True:
            total = p.delivery_summary(cloud_url, api_key)
            finished = ("delivered", "failed", "unreachable")
            done = sum(n for s, n in total["by_status"].items() if s in finished)
            if done >= total["receipts"] or time.monotonic() > deadline:
                return total
            time.sleep(0.3)


def _delivery_summary(t: dict[str, Any]) -> None:
    table = Table(title="e-receipt delivery", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("receipts to deliver (with a contact)", str(t["receipts"]))
    table.add_row("sent / delivered / opened", f"{t['sent']} / {t['delivered']} / {t['opened']}")
    mix = ", ".join(f"{k} {n} ({t['channel_share'][k]:.0%})" for k, n in sorted(t["channel_mix"].items()))
    table.add_row("channel mix", mix or "-")
    others = {k: v for k, v in t["by_status"].items() if k != "delivered"}
    if others:
        table.add_row("not delivered", ", ".join(f"{k} {v}" for k, v in sorted(others.items())))
    table.add_row(
        "cost / fiscal operator's flat price",
        f"{t['cost_kopecks'] / 100:.2f} / {t['operator_cost_kopecks'] / 100:.2f} RUB",
    )
    if t["saving_share"] is not None:
        table.add_row("saving", f"{t['saving_kopecks'] / 100:.2f} RUB ({t['saving_share']:.0%})")
    console.print(table)


def _summary(
    report: dict[str, Any],
    status: dict[str, Any],
    in_cloud: int,
    elapsed: float,
    cloud_url: str,
    agent_url: str,
    store_id: int,
    api_key: str,
    owner: tuple[str, str],
    workdir: Path,
) -> None:
    lat = status["latency"]
    table = Table(title="echeck demo: one trading day", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("receipts made at the till", str(report["made"]))
    table.add_row("  with a buyer contact (tag 1008)", f"{report['with_contact']}")
    table.add_row(
        "  loyalty members / anonymous",
        f"{report['members']} / {report['made'] + report['cancelled'] - report['members']}",
    )
    table.add_row("  cancelled checkouts", str(report["cancelled"]))
    table.add_row("queued in the outbox", str(status["outbox"]["total"]))
    table.add_row("acknowledged by the cloud", str(status["outbox"]["acked"]))
    table.add_row("rejected by the cloud", str(status["outbox"]["rejected"]))
    table.add_row("rows in the cloud", str(in_cloud))
    if lat["count"]:
        table.add_row(
            "sync latency close → ack p50 / p95 / max",
            f"{lat['p50_s'] * 1000:.0f} / {lat['p95_s'] * 1000:.0f} / {lat['max_s'] * 1000:.0f} ms",
        )
    table.add_row("wall time", f"{elapsed:.1f} s")
    console.print(table)
    console.print(f"  cloud API docs      {cloud_url}/docs")
    console.print(
        f"  store's receipts    curl -H 'Authorization: Bearer {api_key}' "
        f"{cloud_url}/v1/stores/{store_id}/receipts"
    )
    console.print(f"  head office         {cloud_url}/login   e-mail {owner[0]}, password {owner[1]}")
    console.print(
        "                      (the owner; invite others: echeck-cloud user invite --tenant ID ...)"
    )
    console.print(
        f"  fleet status API    curl -H 'Authorization: Bearer {api_key}' {cloud_url}/v1/fleet/status"
    )
    console.print(f"  agent checkout API  {agent_url}/docs   status: {agent_url}/agent/v1/status")
    console.print(f"  data and logs       {workdir}")


if __name__ == "__main__":
    sys.exit(main())
