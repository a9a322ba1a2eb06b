"""`echeck-agent`: run the register's agent, enroll it, and show its state to store IT."""

import argparse
import json
import logging
import sys
from pathlib import Path

from agent import __version__
from agent.config import CONFIG_ENV, AgentConfig, ConfigError, default_config_path, load_config
from agent.logs import setup_logging

# Heavier modules are imported inside the commands that need them: `run` is a long-running process with a
# memory budget (≤ 80 MB, docs/performance.md) and must decide what gets loaded before anything loads it.

log = logging.getLogger("agent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="echeck-agent",
        description="echeck's register agent: asks for the buyer's contact at checkout, queues every closed "
        "receipt on this machine and syncs it to the echeck cloud.",
        epilog=f"Configuration: --config, else ${CONFIG_ENV}, else {default_config_path()}. "
        "Environment overrides: ECHECK_CLOUD_URL, ECHECK_AGENT_PORT, ECHECK_AGENT_DATA_DIR, "
        "ECHECK_LOG_LEVEL.",
    )
    parser.add_argument("--config", type=Path, help="agent.toml to use")
    parser.add_argument("--data-dir", type=Path, help="where the outbox and enrollment live")
    parser.add_argument("--version", action="version", version=f"echeck-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent (checkout API on 127.0.0.1 and sync)")
    run.add_argument("--host", help="listen address (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="listen port (default 8765)")
    run.add_argument("--cloud-url", help="send receipts to this cloud instead of the enrolled one")
    run.add_argument("--log-file", type=Path, help="also write JSON logs to this file")

    en = sub.add_parser("enroll", help="enroll this register with the code from head office")
    en.add_argument("--cloud-url", required=True, help="the echeck cloud, e.g. https://echeck.example.ru")
    en.add_argument("--code", required=True, help="the enrollment code, e.g. K7QF-9MZC")

    st = sub.add_parser("status", help="print the queue, sync state and latency of this register")
    st.add_argument("--json", action="store_true", help="machine-readable output")

    rq = sub.add_parser(
        "requeue", help="send dead-lettered receipts (refused by the cloud) again, once the cause is fixed"
    )
    rq.add_argument("--key", action="append", help="only this receipt (FN:FD:FPD); repeatable")

    sub.add_parser("config", help="print the effective configuration and where it came from")
    sub.add_parser(
        "doctor",
        help="check the fiscal register behind the configured hook: answers, FN, shift, unsent documents",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(
            args.config,
            overrides={
                "data_dir": args.data_dir,
                "listen_host": getattr(args, "host", None),
                "listen_port": getattr(args, "port", None),
                "cloud_url": getattr(args, "cloud_url", None) if args.command == "run" else None,
            },
        )
    except ConfigError as exc:
        print(f"echeck-agent: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, getattr(args, "log_file", None))
    try:
        return COMMANDS[args.command](config, args)
    except KeyboardInterrupt:
        return 130


def keep_unused_modules_out() -> None:
    """For the long-running agent process, before anything imports FastAPI or httpx.

    A None entry in sys.modules makes that import raise ImportError, which both libraries expect.
    """
    # FastAPI imports pydantic.v1 (~2 MB resident) only to refuse pydantic v1 models, which echeck has
    # none of; on ImportError (what a None entry in sys.modules gives) it skips that check, as on Pythons
    # where pydantic.v1 cannot load. Only in the agent's own long-running process, for its ≤ 80 MB target.
    sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]
    # httpx's own command line (httpx._main, ~4.5 MB with rich, pygments and click) is loaded by
    # `import httpx` whenever those happen to be installed; the agent never runs it, and httpx expects the
    # ImportError a None entry gives (`httpx.main` then only says it cannot run).
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def cmd_run(config: AgentConfig, _args: argparse.Namespace) -> int:
    keep_unused_modules_out()
    import uvicorn

    from agent.bootstrap import Agent, create_app

    agent = Agent(config)
    log.info(
        "agent starting",
        extra={"listen": f"{config.listen_host}:{config.listen_port}", "data_dir": str(config.data_dir)},
    )
    uvicorn.run(
        create_app(agent), host=config.listen_host, port=config.listen_port, log_config=None, access_log=False
    )
    return 0


def cmd_enroll(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.credentials import open_store
    from agent.enrollment import EnrollmentError, enroll

    store = open_store(config.credentials, config.data_dir)
    try:
        enrollment = enroll(args.cloud_url, args.code, store, config.enrollment_path)
    except EnrollmentError as exc:
        print(f"echeck-agent: {exc}", file=sys.stderr)
        return 1
    print(
        f"Enrolled: register {enrollment.register_id} of store {enrollment.store_id} "
        f"at {enrollment.cloud_url}.\n"
        f"The token is kept in {store.description}."
    )
    return 0


def cmd_status(config: AgentConfig, args: argparse.Namespace) -> int:
    import httpx

    url = f"http://{config.listen_host}:{config.listen_port}/agent/v1/status"
    try:
        data = httpx.get(url, timeout=3).raise_for_status().json()
    except httpx.HTTPError:
        from agent.bootstrap import Agent

        agent = Agent(config)
        try:
            data = agent.status().model_dump(mode="json")
        finally:
            agent.stop()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    out, sync, lat = data["outbox"], data.get("sync") or {}, data["latency"]
    print(f"echeck-agent {data['version']}: {'running' if data['running'] else 'NOT running'}")
    if data["enrolled"]:
        print(
            f"  enrolled     store {data['store_id']}, register {data['register_id']} → {data['cloud_url']}"
        )
    else:
        print("  enrolled     NO: run `echeck-agent enroll --cloud-url URL --code CODE`")
    age = out["oldest_pending_age_s"]
    if data.get("instance_id"):
        print(f"  instance     {data['instance_id']}")
    print(f"  queue        {out['pending']} waiting" + (f" (oldest {age:.0f} s)" if age is not None else ""))
    print(f"  synced       {out['acked']}   dead-lettered (refused by the cloud): {out['rejected']}")
    _print_outbox_health(out)
    if sync:
        reach = "reachable" if sync["online"] else "UNREACHABLE"
        print(f"  cloud        {reach}; last sync {sync['last_sync_at']}")
        if sync.get("token_refused"):
            print("  TOKEN        REFUSED by the cloud: enroll this register again with a new code")
        if sync.get("last_error"):
            print(f"  last error   {sync['last_error']}")
        if sync.get("next_attempt_at"):
            failures = sync["consecutive_failures"]
            print(f"  next try     {sync['next_attempt_at']} ({failures} failures in a row)")
        skew = sync.get("clock_skew_s")
        if skew is not None:
            off = abs(skew) > CLOCK_LIMIT_S
            flag = "   CLOCK OFF: fix the time, fiscal times come from it" if off else ""
            print(f"  clock        {skew:+.1f} s against the cloud{flag}")
    if lat["count"]:
        print(f"  latency      close → cloud ack p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s")
    return 0


CLOCK_LIMIT_S = 120.0  # the cloud's default fleet limit (ECHECK_FLEET_CLOCK_SKEW_S)


def _print_outbox_health(out: dict) -> None:
    size, quota = out.get("size_bytes") or 0, out.get("quota_bytes")
    line = f"  outbox       {size / 1_048_576:.1f} MB"
    if quota:
        line += f" of {quota / 1_048_576:.0f} MB quota"
    if out.get("over_quota"):
        line += "   OVER QUOTA (nothing is dropped: check sync and disk)"
    if out.get("retention_days") is not None:
        line += f"; synced receipts kept {out['retention_days']:g} days"
    print(line)
    if out.get("write_error"):
        print(f"  CANNOT QUEUE {out['write_error']} ({out.get('write_failures', 0)} failed closes)")
    for name in out.get("quarantined") or []:
        print(f"  CORRUPT      outbox file moved aside, kept: {name} (recover with sqlite3 .recover)")
    for line_ in out.get("dead_letter") or []:
        print(f"  dead letter  {line_}")
    if out.get("dead_letter"):
        print("               send again once fixed: echeck-agent requeue [--key FN:FD:FPD]")


def cmd_requeue(config: AgentConfig, args: argparse.Namespace) -> int:
    from sync.outbox import Outbox

    with Outbox(config.outbox_path) as outbox:
        count = outbox.requeue_rejected(args.key)
    print(f"{count} dead-lettered receipt(s) queued again; the running agent sends them within seconds.")
    return 0


def cmd_config(config: AgentConfig, _args: argparse.Namespace) -> int:
    where = (
        config.source if config.source and config.source.exists() else f"{config.source} (absent: defaults)"
    )
    print(f"# effective configuration; file: {where}")
    print(config.to_toml(), end="")
    return 0


def cmd_doctor(config: AgentConfig, _args: argparse.Namespace) -> int:
    from agent.doctor import diagnose

    findings = diagnose(config)
    print(f"echeck-agent doctor: hook {config.hook}")
    for finding in findings:
        print(f"  {'ok  ' if finding.ok else 'FAIL'}  {finding.what}")
        if finding.advice:
            print(f"        → {finding.advice}")
    return 0 if all(f.ok for f in findings) else 1


COMMANDS = {
    "doctor": cmd_doctor,
    "run": cmd_run,
    "enroll": cmd_enroll,
    "status": cmd_status,
    "requeue": cmd_requeue,
    "config": cmd_config,
}

if __name__ == "__main__":
    sys.exit(main())
