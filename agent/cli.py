"""`echeck-agent`: run the register's agent, enroll it, and show its state to store IT."""

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent import __version__
from agent.config import (
    CONFIG_ENV,
    AgentConfig,
    ConfigError,
    default_config_path,
    load_config,
    require_named_file,
)
from agent.logs import FORMATS, setup_logging

if TYPE_CHECKING:
    from agent.updates.layout import Installation

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
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="auto",
        help="log lines on stderr: sentences on a terminal and JSON otherwise (auto), or always one",
    )
    parser.add_argument("--version", action="version", version=f"echeck-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent (checkout API on 127.0.0.1 and sync)")
    run.add_argument("--host", help="listen address (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="listen port (default 8765)")
    run.add_argument("--cloud-url", help="send receipts to this cloud instead of the enrolled one")
    run.add_argument("--log-file", type=Path, help="also write JSON logs to this file")

    en = sub.add_parser(
        "enroll",
        help="enroll this register with the code from head office; again (a new code) to replace its token "
        "or bring a revoked register back: the same register, its queued receipts kept",
    )
    en.add_argument(
        "--cloud-url",
        "--cloud",
        dest="enroll_cloud",
        help="the echeck cloud, e.g. https://echeck.example.ru (default: the one enrolled with before)",
    )
    en.add_argument("--code", required=True, help="the enrollment code, e.g. K7QF-9MZC")

    st = sub.add_parser(
        "status",
        help="print the queue, sync state and latency of this register; exit 1 when something needs "
        "store IT, 2 when the agent on the port is another data directory's",
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")

    tok = sub.add_parser(
        "pos-token",
        help="print the POS token that POS software sends to the checkout API (Authorization: Bearer)",
    )
    tok.add_argument("--rotate", action="store_true", help="replace it; the old one stops working at once")

    rq = sub.add_parser(
        "requeue", help="send dead-lettered receipts (refused by the cloud) again, once the cause is fixed"
    )
    rq.add_argument("--key", action="append", help="only this receipt (FN:FD:FPD); repeatable")

    up = sub.add_parser(
        "update",
        help="signed updates of the packaged agent (Windows; Linux: apt): status, check, apply",
        description="Signed updates of the packaged agent (TUF metadata, docs/updates.md). The running agent "
        "checks its store's channel hourly and stages a newer bundle; a scheduled task applies it once no "
        "checkout is open. On Linux the .deb updates through apt instead.",
        epilog="examples:\n"
        "  echeck-agent update status                # running, staged, failed versions; the channel\n"
        "  echeck-agent update check                 # stage the newest version of the channel now\n"
        "  echeck-agent update apply                 # switch to the staged one (rollback if unhealthy)\n"
        "  echeck-agent update apply --version 0.1.0 # step back to the kept previous version",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up_sub = up.add_subparsers(dest="update_command", required=True, metavar="ACTION")
    for name, text in (
        ("status", "running, staged and failed versions, the channel, the last result"),
        ("check", "check the channel now and stage a newer signed version (not applied)"),
    ):
        up_sub.add_parser(name, help=text, description=text)
    ap = up_sub.add_parser(
        "apply",
        help="switch the service to the staged version once no checkout is open; roll back if it does not "
        "start healthy (the installer's scheduled task runs this)",
        description="Switch the service to the staged version once no checkout is open; if it does not "
        "start healthy, roll back to the running one. The installer's scheduled task runs this.",
    )
    ap.add_argument("--root", type=Path, help="the install root (default: [updates] install_root)")
    ap.add_argument("--version", dest="target_version", help="the staged version (default: the pending one)")
    ap.add_argument("--winsw", type=Path, help="the service wrapper (default: ROOT/echeck-agent-service.exe)")

    dc = sub.add_parser(
        "discover",
        help="list the echeck agents on this LAN (zeroconf _echeck-agent._tcp; agents listening beyond "
        "127.0.0.1 advertise themselves)",
        description="List the echeck agents on this LAN: zeroconf _echeck-agent._tcp (an agent advertises "
        "itself when it listens beyond 127.0.0.1). For a cashier UI on another machine than its agent.",
        epilog="examples:\n"
        "  echeck-agent discover                       # the agents that answer within 3 s\n"
        "  echeck-agent discover --timeout 10 --json   # listen longer, one JSON document\n"
        "  echeck-agent discover --interface 192.168.1.20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dc.add_argument("--timeout", type=float, default=3.0, help="seconds to listen (default %(default)s)")
    dc.add_argument("--json", action="store_true", help="machine-readable output")
    dc.add_argument("--interface", action="append", help="only this interface's address; repeatable")

    sx = sub.add_parser(
        "service-xml",
        help="write the Windows service's WinSW XML (the installer runs this; an update rewrites it)",
        description="Write the Windows service's WinSW XML beside the WinSW executable (same name, .xml). "
        "The installer runs this; an update rewrites it. Not needed on Linux (systemd unit).",
        epilog="example:\n"
        '  echeck-agent service-xml --winsw "C:\\Program Files\\echeck\\echeck-agent-service.exe"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sx.add_argument("--winsw", type=Path, required=True, help="the WinSW executable; the XML goes beside it")
    sx.add_argument("--executable", type=Path, help="the agent to run (default: this program)")

    ob = sub.add_parser(
        "outbox",
        help="count the receipts on this register, read from the outbox file (the agent may be stopped); "
        "exit 2 when the outbox cannot be read",
        description="Count the receipts on this register (waiting, dead-lettered, synced), read from the "
        "outbox file: the agent may be stopped. Exit 2 when the outbox cannot be read.",
        epilog="examples:\n"
        "  sudo echeck-agent outbox              # the counts, in words\n"
        "  sudo echeck-agent outbox --unsynced   # one number: receipts not in the cloud yet (the .deb's\n"
        "                                        # removal guard uses it)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ob.add_argument(
        "--unsynced",
        action="store_true",
        help="print only how many receipts are not in the cloud (waiting + dead-lettered), for scripts",
    )
    sub.add_parser("config", help="print the effective configuration and where it came from")
    sub.add_parser(
        "doctor",
        help="check everything: config, cloud (TLS, token, revoked, clock), disk, outbox, agent and "
        "cashier UI, then the fiscal register behind the hook; exit 1 on errors",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        require_named_file(args.config, os.environ)
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
    become_data_owner(config.data_dir)
    setup_logging(config.log_level, getattr(args, "log_file", None), style=args.log_format)
    try:
        return COMMANDS[args.command](config, args)
    except KeyboardInterrupt:
        return 130


def become_data_owner(data_dir: Path) -> None:
    """Run as root on a data directory another user owns (the packaged agent's `echeck`): act as that user.

    Otherwise `sudo echeck-agent enroll` would leave a root-owned token and enrollment that the service
    cannot read, and even a read-only look at the outbox may create SQLite's -shm file as root.
    Only the packaged (frozen) agent: its files are world-readable in /opt/echeck, while a source install
    may sit where that user cannot read the modules still to be imported (a Python under /root).
    """
    if not getattr(sys, "frozen", False) or os.name != "posix" or os.geteuid() != 0:
        return
    if not data_dir.is_dir():
        return
    owner = data_dir.stat().st_uid
    if owner == 0:
        return
    import pwd

    try:
        user = pwd.getpwuid(owner)
    except KeyError:  # a number without an account: stay root rather than guess
        return
    os.initgroups(user.pw_name, user.pw_gid)
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ["HOME"] = user.pw_dir


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
    from agent.enrollment import EnrollmentError, NotEnrolled, enroll, load_enrollment
    from agent.outbox_probe import probe

    try:
        before = load_enrollment(config.enrollment_path)
    except NotEnrolled:
        before = None
    cloud_url = args.enroll_cloud or config.cloud_url or (before.cloud_url if before else None)
    if not cloud_url:
        print(
            "echeck-agent: give the cloud: --cloud https://echeck.example.ru (as head office said)",
            file=sys.stderr,
        )
        return 2
    store = open_store(config.credentials, config.data_dir)
    try:
        enrollment = enroll(cloud_url, args.code, store, config.enrollment_path)
    except EnrollmentError as exc:
        print(f"echeck-agent: {exc}", file=sys.stderr)
        return 1
    again = before is not None and before.register_id == enrollment.register_id
    print(
        f"Enrolled{' again' if again else ''}: register {enrollment.register_id} of store "
        f"{enrollment.store_id} at {enrollment.cloud_url}.\n"
        f"The token is kept in {store.description}."
    )
    if before is not None:
        kept = probe(config.outbox_path).pending
        print(f"{kept} queued receipt(s) kept; the running agent sends them after a restart.")
    return 0


def cmd_status(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.agent_probe import ask_agent
    from agent.findings import exit_code
    from agent.status_report import findings, offline_status

    answer = ask_agent(config)
    if answer.foreign:
        print(
            f"echeck-agent: the agent on {answer.url} is not the one of {config.data_dir}: {answer.foreign}. "
            "Check --config / --data-dir (or give each agent its own port).",
            file=sys.stderr,
        )
        return 2
    status = answer.status or offline_status(config)
    found = findings(config, status, answer.url)
    if args.json:
        data = status.model_dump(mode="json")
        data["findings"] = [{"level": f.level.value, "what": f.what, "advice": f.advice} for f in found]
        print(json.dumps(data, indent=2))
    else:
        print(f"echeck-agent status ({config.data_dir})")
        for finding in found:
            print(finding.line())
    return exit_code(found)


def cmd_requeue(config: AgentConfig, args: argparse.Namespace) -> int:
    from sync.outbox import Outbox

    unknown: list[str] = []
    with Outbox(config.outbox_path) as outbox:
        if args.key is None:
            count = outbox.requeue_rejected()
        else:
            # Key by key: a mistyped key is said, never a silent "0 queued again" with exit 0.
            count = 0
            for key in args.key:
                done = outbox.requeue_rejected([key])
                count += done
                if not done:
                    unknown.append(key)
    print(f"{count} dead-lettered receipt(s) queued again; the running agent sends them within seconds.")
    for key in unknown:
        print(
            f"echeck-agent: {key} is not a dead-lettered receipt of this register (FN:FD:FPD, as "
            "`echeck-agent status` lists them)",
            file=sys.stderr,
        )
    return 1 if unknown else 0


def cmd_outbox(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.outbox_probe import probe

    facts = probe(config.outbox_path)
    if facts.problem:
        print(f"echeck-agent: cannot read the outbox {config.outbox_path}: {facts.problem}", file=sys.stderr)
        return 2
    unsynced = facts.pending + facts.rejected
    if args.unsynced:
        print(unsynced)
    else:
        print(
            f"{config.outbox_path}: {unsynced} receipt(s) not in the cloud ({facts.pending} waiting, "
            f"{facts.rejected} dead-lettered), {facts.acked} synced and kept"
        )
    return 0


def cmd_config(config: AgentConfig, _args: argparse.Namespace) -> int:
    where = (
        config.source if config.source and config.source.exists() else f"{config.source} (absent: defaults)"
    )
    print(f"# effective configuration; file: {where}")
    print(config.to_toml(), end="")
    if config.cloud_url is None:
        from agent.enrollment import NotEnrolled, load_enrollment

        try:
            enrolled = load_enrollment(config.enrollment_path).cloud_url
            print(f'# cloud_url = "{enrolled}"  (from enrollment: {config.enrollment_path})')
        except NotEnrolled:
            print("# cloud_url: none (not enrolled; `echeck-agent enroll` sets it)")
    return 0


def cmd_pos_token(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.pos_token import read_or_create, required, rotate

    token = rotate(config.pos_token_path) if args.rotate else read_or_create(config.pos_token_path)
    print(token)
    need = "required" if required(config.listen_host, config.require_pos_token) else "optional on loopback"
    print(
        f"# POS software sends it as `Authorization: Bearer <token>` ({need}); "
        f"kept in {config.pos_token_path}",
        file=sys.stderr,
    )
    return 0


def cmd_doctor(config: AgentConfig, _args: argparse.Namespace) -> int:
    from agent.doctor import diagnose
    from agent.findings import exit_code

    findings = diagnose(config)
    print(f"echeck-agent doctor ({config.data_dir})")
    for finding in findings:
        print(finding.line(), flush=True)
    return exit_code(findings)


def cmd_update(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.updates.layout import Installation, LayoutError

    settings = config.updates
    root = getattr(args, "root", None) or (Path(settings.install_root) if settings.install_root else None)
    if root is None:
        print(
            "echeck-agent: no install root: set [updates] install_root (or --root); on Linux the .deb "
            "updates through apt (docs/updates.md)",
            file=sys.stderr,
        )
        return 2
    installation = Installation(root)
    try:
        if args.update_command == "status":
            return _update_status(installation, config)
        if args.update_command == "check":
            return _update_check(installation, config)
        return _update_apply(installation, config, args)
    except LayoutError as exc:
        print(f"echeck-agent: {exc}", file=sys.stderr)
        return 1


def _update_status(installation: "Installation", config: AgentConfig) -> int:
    state = installation.state()
    print(f"install root {installation.root}; channel {config.updates.channel} (the cloud may name another)")
    print(f"running {installation.current() or 'nothing'}; installed {', '.join(installation.installed())}")
    print(f"staged {installation.staged() or 'nothing'}; failed {', '.join(state.failed) or 'none'}")
    print(f"last result: {state.last_result or 'no update applied yet'}")
    return 0


def _update_check(installation: "Installation", config: AgentConfig) -> int:
    from agent.updates.client import UpdateClient, UpdateRefused

    if not config.updates.enabled:
        print("echeck-agent: [updates] repository_url is not set: updates are off", file=sys.stderr)
        return 2
    try:
        staged = UpdateClient(
            installation, config.updates.repository_url, config.updates.channel
        ).check_and_stage()
    except UpdateRefused as exc:
        print(f"echeck-agent: {exc}; nothing was installed", file=sys.stderr)
        return 1
    print(f"staged {staged.version}: applied once no checkout is open" if staged else "up to date")
    return 0


def _update_apply(installation: "Installation", config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.agent_probe import ask_agent
    from agent.updates.apply import apply_staged, http_version_probe
    from agent.winservice import PENDING_FILE, ServiceSpec, WinswService

    pending = installation.root / PENDING_FILE
    version = args.target_version or (
        pending.read_text().strip() if pending.exists() else installation.staged()
    )
    if not version:
        print("nothing staged")
        return 0
    answer = ask_agent(config)
    if answer.status is not None and answer.status.open_checkouts:
        print(f"update {version} waits: {answer.status.open_checkouts} checkout(s) open", file=sys.stderr)
        return 3
    winsw = args.winsw or installation.root / "echeck-agent-service.exe"
    spec = ServiceSpec(
        Path(), config.source or Path("agent.toml"), config.data_dir / "logs", config.updates.service_name
    )
    result = apply_staged(
        installation,
        version,
        WinswService(winsw, spec),
        http_version_probe(f"http://127.0.0.1:{config.listen_port}"),
        health_timeout_s=config.updates.health_timeout_s,
    )
    pending.unlink(missing_ok=True)
    print(result.message)
    return 0 if result.ok else 1


def cmd_discover(_config: AgentConfig, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from agent.discovery import browse, table

    try:
        agents = browse(args.timeout, args.interface)
    except OSError as exc:
        print(f"echeck-agent: cannot listen for zeroconf on this machine: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([asdict(a) for a in agents], indent=2))
    elif agents:
        print(table(agents))
    else:
        print(
            f"none found in {args.timeout:g} s: agents on 127.0.0.1 (the default) do not advertise; "
            "one with listen_host = 0.0.0.0 does, if multicast passes this network"
        )
    return 0


def cmd_service_xml(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.winservice import ServiceSpec, winsw_xml

    executable = args.executable or Path(sys.executable).resolve()
    spec = ServiceSpec(
        executable,
        config.source or Path("agent.toml"),
        config.data_dir.parent / "logs",
        config.updates.service_name,
    )
    path = args.winsw.with_suffix(".xml")
    path.write_text(winsw_xml(spec), encoding="utf-8")
    print(f"wrote {path}: service {spec.service_id} runs {executable}")
    return 0


COMMANDS = {
    "doctor": cmd_doctor,
    "run": cmd_run,
    "enroll": cmd_enroll,
    "status": cmd_status,
    "requeue": cmd_requeue,
    "config": cmd_config,
    "outbox": cmd_outbox,
    "pos-token": cmd_pos_token,
    "update": cmd_update,
    "discover": cmd_discover,
    "service-xml": cmd_service_xml,
}

if __name__ == "__main__":
    sys.exit(main())
