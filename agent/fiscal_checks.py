"""`echeck-agent doctor`'s fiscal part: does the register answer, is its FN and shift fine, are documents
stuck? Findings are values so the CLI only prints them; the words are for store IT.
"""

from typing import Any

import httpx
import serial

from agent.config import AgentConfig
from agent.findings import Finding
from drivers.atol.own_tasks import RegisterUnreadable, run_tasks
from drivers.atol.tasks import Status
from drivers.shtrih import commands as c
from drivers.shtrih.errors import DeviceError
from drivers.shtrih.link import LinkClient, LinkError, LinkTimeouts, SerialChannel

TIMEOUT_S = 5.0
# ATOL driver v10's documented JSON tasks, run in one request: FN identity and phase, last document, shift,
# documents waiting for the OFD
ATOL_TASKS = ("getFnInfo", "getFnStatus", "getShiftStatus", "ofdExchangeStatus")
UNSENT_WARN = 50  # documents waiting for the OFD; the FN blocks after 30 days of not sending


def diagnose(config: AgentConfig) -> list[Finding]:
    if config.hook == "atol-proxy":
        return diagnose_atol(config.atol.upstream)
    if config.hook == "shtrih-tap":
        return diagnose_shtrih(config.shtrih.device_port, config.shtrih.baudrate)
    return [
        Finding(True, "hook: localhost checkout API (the POS calls the agent itself): no register to check")
    ]


def diagnose_atol(upstream: str) -> list[Finding]:
    """The register behind the ATOL web server, by the documented JSON tasks (what any real server runs)."""
    tasks = [{"type": name} for name in ATOL_TASKS]
    try:
        with httpx.Client(base_url=upstream, timeout=TIMEOUT_S) as client:
            results = run_tasks(client, tasks, timeout_s=TIMEOUT_S * 2)
    except RegisterUnreadable as exc:
        return [
            Finding(
                False,
                f"ATOL web server at {upstream} does not answer: {exc}",
                "Start the ATOL web server (fptr10 web server service) and check [atol] upstream; "
                "the POS must point at the agent's port, the web server at the upstream port.",
            )
        ]
    found = [Finding(True, f"ATOL web server answers at {upstream}")]
    answers: dict[str, dict[str, Any]] = {}
    for name, result in zip(ATOL_TASKS, results, strict=True):
        if result.status is Status.READY:
            answers[name] = result.result or {}
        else:
            found.append(
                Finding(
                    False,
                    f"the register does not run {name}: {result.error_description or result.status.value}",
                    "Check the register in the ATOL driver's settings (connection, power, paper, cover).",
                )
            )
    if "getFnInfo" in answers:
        found += _atol_fn(answers["getFnInfo"].get("fnInfo") or {}, answers.get("getFnStatus", {}))
    if "getShiftStatus" in answers:
        found.append(_atol_shift((answers["getShiftStatus"].get("shiftStatus") or {}).get("state")))
    if "ofdExchangeStatus" in answers:
        found.append(_unsent(int((answers["ofdExchangeStatus"].get("status") or {}).get("notSentCount", 0))))
    return found


def _atol_fn(info: dict[str, Any], status: dict[str, Any]) -> list[Finding]:
    last = (status.get("fnStatus") or {}).get("fiscalDocumentNumber", "?")
    found = [Finding(True, f"fiscal storage {info.get('serial', '?')}, last document {last}")]
    phase = info.get("livePhase")
    if phase != "fiscalMode":
        found.append(
            Finding(
                False,
                f"fiscal storage is not in fiscal mode ({phase or 'unknown'})",
                "The register is not registered with the tax service: call the service engineer.",
            )
        )
    warnings = [k for k, v in (info.get("warnings") or {}).items() if v]
    if warnings:
        found.append(
            Finding(
                False,
                f"fiscal storage warnings: {', '.join(warnings)}",
                "Call the service engineer: the FN may need replacing soon.",
            )
        )
    return found


def _atol_shift(state: str | None) -> Finding:
    if state == "opened":
        return Finding(True, "shift is opened")
    if state == "expired":  # open for more than 24 h: the register sells nothing until it is closed
        return Finding(
            False, "shift is expired (open for more than 24 h)", "Close the shift (Z report), then open it."
        )
    return Finding(False, f"shift is {state or 'unknown'}", "Open the shift on the POS before selling.")


def diagnose_shtrih(device_port: str, baudrate: int) -> list[Finding]:
    if not device_port:
        return [
            Finding(False, "[shtrih] device_port is not set", "Set the register's COM port in agent.toml.")
        ]
    try:
        port = serial.serial_for_url(device_port, baudrate=baudrate, timeout=0.1)
    except (serial.SerialException, OSError) as exc:
        return [
            Finding(
                False,
                f"cannot open {device_port}: {exc}",
                "Check the cable and that no other program (the POS!) holds the port; "
                "run doctor while the agent is stopped.",
            )
        ]
    try:
        client = LinkClient(SerialChannel(port), LinkTimeouts(ack_s=0.5, answer_s=3.0, retries=2))
        status = c.FnStatusAnswer.decode(
            c.Answer.decode(client.execute(c.FnStatus().encode())).raise_for_error().data
        )
        shift = c.ShiftAnswer.decode(
            c.Answer.decode(client.execute(c.ShiftParams().encode())).raise_for_error().data
        )
        exchange = c.ExchangeAnswer.decode(
            c.Answer.decode(client.execute(c.ExchangeStatus().encode())).raise_for_error().data
        )
    except (LinkError, DeviceError, c.MalformedCommand) as exc:
        return [
            Finding(
                False,
                f"register on {device_port} does not answer properly: {exc}",
                "Check the port, the baud rate (Shtrih-M default 115200 or 4800) and the power.",
            )
        ]
    finally:
        port.close()
    found = [
        Finding(
            True,
            f"register answers on {device_port}; fiscal storage {status.fn_serial}, "
            f"last document {status.last_fd}",
        )
    ]
    if status.life_phase != 3:
        found.append(
            Finding(
                False,
                f"fiscal storage is not in fiscal mode (phase {status.life_phase})",
                "The register is not registered with the tax service: call the service engineer.",
            )
        )
    if status.warnings:
        found.append(
            Finding(
                False,
                f"fiscal storage warnings (flags 0x{status.warnings:02X})",
                "The FN needs replacing soon or the OFD is not reached: call the service engineer.",
            )
        )
    found.append(
        Finding(
            shift.shift_open,
            f"shift {shift.shift_number} is {'open' if shift.shift_open else 'closed'}",
            "" if shift.shift_open else "Open the shift on the POS before selling.",
        )
    )
    found.append(_unsent(exchange.unsent))
    return found


def _ask(client: LinkClient, request: c.Request) -> bytes:
    return c.Answer.decode(client.execute(request.encode())).raise_for_error().data


def _unsent(count: int) -> Finding:
    if count >= UNSENT_WARN:
        return Finding(
            False,
            f"{count} documents not sent to the OFD",
            "Check the register's internet connection; after 30 days the FN stops selling.",
        )
    return Finding(True, f"{count} documents waiting for the OFD")
