"""`echeck-agent doctor`'s fiscal part: does the register answer, is its FN and shift fine, are documents
stuck? Findings are values so the CLI only prints them; the words are for store IT.
"""

import httpx
import serial

from agent.config import AgentConfig
from agent.findings import Finding
from drivers.shtrih import commands as c
from drivers.shtrih.errors import DeviceError
from drivers.shtrih.link import LinkClient, LinkError, LinkTimeouts, SerialChannel

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
    found: list[Finding] = []
    try:
        with httpx.Client(base_url=upstream, timeout=5) as client:
            fn = client.get("/api/v2/operations/queryFnStatus").raise_for_status().json()
            shift = client.get("/api/v2/operations/queryShiftStatus").raise_for_status().json()
    except httpx.HTTPError as exc:
        return [
            Finding(
                False,
                f"ATOL web server at {upstream} does not answer ({exc.__class__.__name__})",
                "Start the ATOL web server (fptr10 web server service) and check [atol] upstream; "
                "the POS must point at the agent's port, the web server at the upstream port.",
            )
        ]
    found.append(Finding(True, f"ATOL web server answers at {upstream}"))
    status = fn.get("fnStatus", {})
    found.append(
        Finding(
            True,
            f"fiscal storage {status.get('serial', '?')}, last document "
            f"{status.get('lastDocumentNumber', '?')}",
        )
    )
    warnings = [k for k, v in (status.get("warnings") or {}).items() if v]
    if warnings:
        found.append(
            Finding(
                False,
                f"fiscal storage warnings: {', '.join(warnings)}",
                "Call the service engineer: the FN may need replacing soon.",
            )
        )
    state = shift.get("shiftStatus", {}).get("state")
    found.append(
        Finding(
            state == "opened",
            f"shift is {state or 'unknown'}",
            "" if state == "opened" else "Open the shift on the POS before selling.",
        )
    )
    found.append(_unsent((fn.get("ofdExchangeStatus") or {}).get("notSentCount", 0)))
    return found


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
