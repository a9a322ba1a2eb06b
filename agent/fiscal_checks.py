"""`echeck-agent doctor`'s fiscal part: does the register answer, is its FN and shift fine, are documents
stuck? Findings are values so the CLI only prints them; the words are for store IT.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import serial

from agent.config import AgentConfig
from agent.findings import Finding, Level
from drivers.atol.own_tasks import RegisterUnreadable, run_tasks
from drivers.atol.tasks import Status
from drivers.shtrih import commands as c
from drivers.shtrih import legacy
from drivers.shtrih.errors import DeviceError
from drivers.shtrih.link import LinkClient, LinkError, LinkTimeouts, SerialChannel

TIMEOUT_S = 5.0
# ATOL driver v10's documented JSON tasks, run in one request: FN identity and phase, last document, shift,
# documents waiting for the OFD
ATOL_TASKS = ("getFnInfo", "getFnStatus", "getShiftStatus", "ofdExchangeStatus")
# a firmware without the command: 0x37 "not supported by this device", or the FN's 0x01 "unknown command"
UNKNOWN_COMMAND = frozenset({0x01, 0x37})
T = TypeVar("T")
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
        # 0x10 first: every Shtrih-M knows it (the legacy FFD 1.05 set); the FN commands after it are
        # optional, a firmware without one says so on its line instead of failing the whole check
        state = legacy.ShortStateAnswer.decode(_ask(client, legacy.ShortState()))
        status = _optional(client, c.FnStatus(), c.FnStatusAnswer.decode)
        shift = _optional(client, c.ShiftParams(), c.ShiftAnswer.decode)
        exchange = _optional(client, c.ExchangeStatus(), c.ExchangeAnswer.decode)
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
    return _shtrih_findings(device_port, state, status, shift, exchange)


def _shtrih_findings(
    device_port: str,
    state: legacy.ShortStateAnswer,
    status: c.FnStatusAnswer | None,
    shift: c.ShiftAnswer | None,
    exchange: c.ExchangeAnswer | None,
) -> list[Finding]:
    if status is None:
        found = [
            Finding(True, f"register answers on {device_port}"),
            Finding(
                False,
                "the register does not report its fiscal storage (command 0xFF01 unknown to its firmware): "
                "the agent cannot read the FD and FPD of the receipts it closes",
                "Update the register's firmware (Shtrih-M's service centre).",
            ),
        ]
    else:
        found = [
            Finding(
                True,
                f"register answers on {device_port}; fiscal storage {status.fn_serial}, "
                f"last document {status.last_fd}",
            )
        ]
        found += _fn_state(status)
    found.append(_shtrih_shift(state.mode & 0x0F, shift))
    if exchange is None:
        found.append(
            Finding(
                Level.WARNING,
                "the register does not report the documents waiting for the OFD (command 0xFF39 unknown)",
                "Check the OFD's personal account that the register's documents arrive.",
            )
        )
    else:
        found.append(_unsent(exchange.unsent))
    return found


def _fn_state(status: c.FnStatusAnswer) -> list[Finding]:
    found = []
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
    return found


def _shtrih_shift(mode: int, shift: c.ShiftAnswer | None) -> Finding:
    """The shift from 0x10's mode (every register), its number from 0xFF40 where the firmware has it."""
    name = f"shift {shift.shift_number}" if shift is not None else "shift"
    if mode == legacy.MODE_SHIFT_OVER_24H:
        return Finding(
            False, f"{name} is open for more than 24 h", "Close the shift (Z report), then open it."
        )
    if mode == legacy.MODE_SHIFT_CLOSED:
        return Finding(False, f"{name} is closed", "Open the shift on the POS before selling.")
    return Finding(True, f"{name} is open")


def _ask(client: LinkClient, request: c.Request) -> bytes:
    return c.Answer.decode(client.execute(request.encode())).raise_for_error().data


def _optional(client: LinkClient, request: c.Request, decode: Callable[[bytes], T]) -> T | None:
    """The command's answer, or None when the register's firmware does not know the command."""
    try:
        return decode(_ask(client, request))
    except DeviceError as exc:
        if exc.code in UNKNOWN_COMMAND:
            return None
        raise


def _unsent(count: int) -> Finding:
    if count >= UNSENT_WARN:
        return Finding(
            False,
            f"{count} documents not sent to the OFD",
            "Check the register's internet connection; after 30 days the FN stops selling.",
        )
    return Finding(True, f"{count} documents waiting for the OFD")
