"""The ATOL emulator's answers to the tasks a POS client sends at start, decoded as an ATOL client does.

getDeviceInfo, getFnInfo, getRegistrationInfo, ofdExchangeStatus and the status tasks go through the web
server API as any client sends them (POST /api/v2/requests, then GET /api/v2/requests/{uuid} until the task
is final). The schemas are the fields and types ATOL's driver v10 documents for those tasks, as independent
ATOL clients decode them (a client reads every field below; a missing one or another type fails it).
"""

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from drivers.atol import emulator as emu
from tests.support.live_server import live_server

CODE_DESCRIPTION = {"code": int, "description": str}
FN_WARNINGS = {
    "memoryOverflow": bool,
    "needReplacement": bool,
    "ofdTimeout": bool,
    "resourceExhausted": bool,
    "criticalError": bool,
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "getShiftStatus": {
        "shiftStatus": {"state": str, "number": int, "documentsCount": int, "expiredTime": "datetime"}
    },
    "getDeviceStatus": {
        "deviceStatus": {
            "currentDateTime": "datetime",
            "shift": str,
            "blocked": bool,
            "coverOpened": bool,
            "paperPresent": bool,
            "fiscal": bool,
            "fnFiscal": bool,
            "fnPresent": bool,
            "cashDrawerOpened": bool,
        }
    },
    "getFnStatus": {
        "fnStatus": {"fiscalDocumentNumber": int, "fiscalReceiptNumber": int, "warnings": FN_WARNINGS}
    },
    "getDeviceInfo": {
        "deviceInfo": {
            "model": int,
            "modelName": str,
            "serial": str,
            "firmwareVersion": str,
            "configurationVersion": str,
            "receiptLineLength": int,
            "receiptLineLengthPix": int,
            "ffdVersion": str,
            "fnFfdVersion": str,
        }
    },
    "getFnInfo": {
        "fnInfo": {
            "serial": str,
            "version": str,
            "execution": str,
            "numberOfRegistrations": int,
            "registrationsRemaining": int,
            "validityDate": "datetime",
            "ffdVersion": str,
            "fnContainsKeysUpdaterServerUri": bool,
            "fnFfdVersion": str,
            "livePhase": str,
            "warnings": FN_WARNINGS,
        }
    },
    "getRegistrationInfo": {
        "organization": {
            "name": str,
            "vatin": str,
            "email": str,
            "taxationTypes": [str],
            "agents": [str],
            "address": str,
        },
        "device": {
            "paymentsAddress": str,
            "fnsUrl": str,
            "registrationNumber": str,
            "offlineMode": bool,
            "machineInstallation": bool,
            "bso": bool,
            "encryption": bool,
            "autoMode": bool,
            "machineNumber": str,
            "internet": bool,
            "service": bool,
            "gambling": bool,
            "lottery": bool,
            "excise": bool,
            "defaultTaxationType": str,
            "ofdChannel": str,
            "ffdVersion": str,
        },
        "ofd": {"name": str, "vatin": str, "host": str, "port": int, "dns": str},
    },
    "ofdExchangeStatus": {
        "status": {
            "notSentCount": int,
            "notSentFirstDocNumber": int,
            "notSentFirstDocDateTime": "datetime",
            "lastSuccessKeysUpdate": "datetime",
        },
        "errors": {
            "network": CODE_DESCRIPTION,
            "ofd": CODE_DESCRIPTION,
            "fn": CODE_DESCRIPTION,
            "documentNumber": int,
            "fnCommandCode": int,
            "lastSuccessConnectionDateTime": "datetime",
        },
        "warnings": {"dataForSendIsEmpty": bool},
    },
}
SELL = {
    "type": "sell",
    "taxationType": "osn",
    "items": [{"type": "position", "name": "Хлеб", "price": 52, "quantity": 1, "amount": 52}],
    "payments": [{"type": "cash", "sum": 52}],
}


def decode(value: Any, schema: Any, path: str = "result") -> None:
    """What a typed client does with the answer: every field there, each of its type (bool is no int)."""
    if isinstance(schema, dict):
        assert isinstance(value, dict), f"{path}: an object expected, got {value!r}"
        for key, inner in schema.items():
            assert key in value, f"{path}.{key} missing"
            decode(value[key], inner, f"{path}.{key}")
    elif isinstance(schema, list):
        assert isinstance(value, list), f"{path}: a list expected, got {value!r}"
        for n, item in enumerate(value):
            decode(item, schema[0], f"{path}[{n}]")
    elif schema == "datetime":  # ISO 8601 with the register's offset, as ATOL writes dates
        assert isinstance(value, str), f"{path}: a date-time string expected, got {value!r}"
        assert datetime.fromisoformat(value).tzinfo is not None, f"{path}: {value!r} has no UTC offset"
    else:
        assert type(value) is schema, f"{path}: {schema.__name__} expected, got {value!r}"


def run_task(client: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    """One task the way ATOL clients run it: POST, then poll the result until it is final."""
    request_id = str(uuid.uuid4())
    posted = client.post("/api/v2/requests", json={"uuid": request_id, "request": [task]})
    assert posted.status_code == 201, posted.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [result] = client.get(f"/api/v2/requests/{request_id}").json()["results"]
        if result["status"] not in ("wait", "inProgress"):
            return result
        time.sleep(0.02)
    raise AssertionError(f"{task['type']} never became final")


@pytest.fixture
def emulated() -> Iterator[tuple[emu.AtolEmulator, httpx.Client]]:
    emulator = emu.AtolEmulator()
    with live_server(emu.create_app(emulator)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield emulator, client


@pytest.mark.parametrize("task_type", sorted(SCHEMAS))
def test_a_start_up_task_is_answered_with_the_documented_fields(
    emulated: tuple[emu.AtolEmulator, httpx.Client], task_type: str
) -> None:
    _, client = emulated
    result = run_task(client, {"type": task_type})
    assert result["status"] == "ready", result
    assert (result["errorCode"], result["error"]["code"]) == (0, 0)
    decode(result["result"], SCHEMAS[task_type])


def test_the_answers_describe_this_register(emulated: tuple[emu.AtolEmulator, httpx.Client]) -> None:
    emulator, client = emulated
    register = emulator.register
    device = run_task(client, {"type": "getDeviceInfo"})["result"]["deviceInfo"]
    assert device["serial"] == register.serial
    assert device["ffdVersion"] == "1.2"
    fn = run_task(client, {"type": "getFnInfo"})["result"]["fnInfo"]
    assert fn["serial"] == register.fn_number
    assert fn["livePhase"] == "fiscalMode"
    assert not any(fn["warnings"].values())
    registration = run_task(client, {"type": "getRegistrationInfo"})["result"]
    assert registration["device"]["registrationNumber"] == register.registration_number
    assert registration["organization"]["vatin"] == register.registration.vatin
    assert registration["organization"]["taxationTypes"] == ["osn"]


def test_the_status_tasks_follow_the_shift_and_the_numbering(
    emulated: tuple[emu.AtolEmulator, httpx.Client],
) -> None:
    emulator, client = emulated
    assert run_task(client, SELL)["status"] == "ready"
    shift = run_task(client, {"type": "getShiftStatus"})["result"]["shiftStatus"]
    assert (shift["state"], shift["number"], shift["documentsCount"]) == ("opened", 1, 1)
    fn = run_task(client, {"type": "getFnStatus"})["result"]["fnStatus"]
    assert fn["fiscalDocumentNumber"] == emulator.register.journal[-1].fiscal_document_number
    assert run_task(client, {"type": "closeShift"})["status"] == "ready"
    device = run_task(client, {"type": "getDeviceStatus"})["result"]["deviceStatus"]
    assert device["shift"] == "closed"
    assert run_task(client, {"type": "getShiftStatus"})["result"]["shiftStatus"]["state"] == "closed"


def test_ofd_exchange_status_counts_the_receipts_waiting_for_the_ofd(
    emulated: tuple[emu.AtolEmulator, httpx.Client],
) -> None:
    emulator, client = emulated
    idle = run_task(client, {"type": "ofdExchangeStatus"})["result"]
    assert idle["status"]["notSentCount"] == 0
    assert idle["warnings"]["dataForSendIsEmpty"] is True
    for _ in range(2):
        assert run_task(client, SELL)["status"] == "ready"
    waiting = run_task(client, {"type": "ofdExchangeStatus"})["result"]
    first = emulator.register.journal[0]
    assert waiting["status"]["notSentCount"] == 2
    assert waiting["status"]["notSentFirstDocNumber"] == first.fiscal_document_number
    assert waiting["status"]["notSentFirstDocDateTime"] == first.date_time
    assert waiting["warnings"]["dataForSendIsEmpty"] is False
    decode(waiting, SCHEMAS["ofdExchangeStatus"])


def test_an_unknown_task_is_still_an_error_the_client_can_read(
    emulated: tuple[emu.AtolEmulator, httpx.Client],
) -> None:
    _, client = emulated
    result = run_task(client, {"type": "noSuchTask"})
    assert result["status"] == "error"
    assert result["errorCode"] == result["error"]["code"] != 0
    assert result["errorDescription"] == result["error"]["description"]
    assert "noSuchTask" in result["errorDescription"]


def test_the_operations_answer_the_documented_objects_and_nothing_more(
    emulated: tuple[emu.AtolEmulator, httpx.Client],
) -> None:
    """No field a real web server would not send, so what reads them (doctor) is tested honestly."""
    _, client = emulated
    fn = client.get("/api/v2/operations/queryFnStatus").json()
    assert fn.keys() == {"fnStatus"}
    decode(fn, {"fnStatus": SCHEMAS["getFnStatus"]["fnStatus"]})
    assert fn["fnStatus"].keys() == SCHEMAS["getFnStatus"]["fnStatus"].keys()
    assert client.get("/api/v2/operations/queryShiftStatus").json().keys() == {"shiftStatus"}
