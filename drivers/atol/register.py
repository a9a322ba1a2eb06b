"""The imaginary register behind the ATOL web server emulator, and its answers to ATOL's JSON tasks.

Per-FN document numbering, shift state, fiscal signs, fnsUrl, a journal of every receipt it "printed"
(with tag 1008), and what a POS client asks at start: getDeviceInfo, getFnInfo, getRegistrationInfo,
ofdExchangeStatus and the status tasks (getShiftStatus, getDeviceStatus, getFnStatus). Their answers have
the fields ATOL's driver v10 documents for those JSON tasks (the same
names and types independent ATOL clients decode), with values of a fictional shop. There is no OFD behind
it: every document waits to be sent, as on a register whose network is down.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from drivers.atol.tasks import RECEIPT_TYPES, ReceiptTask

FNS_URL = "www.nalog.gov.ru"
SHIFT_LENGTH = timedelta(hours=24)  # a shift must be closed within this (54-FZ)
FN_WARNINGS_NONE = {
    "criticalError": False,
    "memoryOverflow": False,
    "needReplacement": False,
    "ofdTimeout": False,
    "resourceExhausted": False,
}


def local_now() -> datetime:
    """The register's clock: local time with its UTC offset, whole seconds."""
    return datetime.now().astimezone().replace(microsecond=0)


def now() -> str:
    """ATOL's date-time: ISO 8601 with the register's UTC offset."""
    return local_now().isoformat()


@dataclass
class JournalEntry:
    fn_number: str
    fiscal_document_number: int
    fiscal_document_sign: str
    date_time: str
    type: str
    total: str
    tag_1008: str | None
    request_uuid: str


@dataclass(frozen=True)
class Registration:
    """Who the register is registered to (the registration report's data) and its OFD."""

    organization: str = "ООО «Ромашка»"
    vatin: str = "7701234560"  # ИНН, with a valid check digit
    email: str = "kassa@romashka.example"
    address: str = "г. Москва, ул. Тверская, д. 7"
    taxation_types: tuple[str, ...] = ("osn",)
    ofd_name: str = "ООО «ОФД-эмулятор»"
    ofd_vatin: str = "7725000000"
    ofd_host: str = "ofd.example"
    ofd_port: int = 7777
    ofd_dns: str = "0.0.0.0"


@dataclass
class AtolRegister:
    fn_number: str = "9999078902001234"
    registration_number: str = "0000000002012345"
    serial: str = "00106712345678"  # the register's own (factory) number
    ffd_version: str = "1.2"
    registration: Registration = field(default_factory=Registration)
    shift_open: bool = True
    fn_phase: str = "fiscalMode"  # getFnInfo's livePhase: init, configured, fiscalMode, postFiscalMode, ...
    fn_warnings: dict[str, bool] = field(default_factory=lambda: dict(FN_WARNINGS_NONE))
    shift_number: int = 1
    receipts_in_shift: int = 0
    last_fd: dict[str, int] = field(default_factory=dict)  # per FN serial: a new FN starts at 1
    journal: list[JournalEntry] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    started_at: str = field(default_factory=now)
    shift_opened_at: datetime = field(default_factory=local_now)

    def execute(self, task: dict[str, Any], request_uuid: str) -> tuple[int, str, dict[str, Any]]:
        """(errorCode, errorDescription, result) of one task."""
        kind = task.get("type")
        if kind in RECEIPT_TYPES:
            return self._receipt(ReceiptTask.model_validate(task), request_uuid)
        if kind == "openShift":
            if self.shift_open:
                return 68, "Смена открыта - операция невозможна", {}
            self.shift_open, self.shift_number, self.receipts_in_shift = True, self.shift_number + 1, 0
            self.shift_opened_at = local_now()
            return 0, "", {"fiscalParams": self._params(self._next_fd(), 0)}
        if kind == "closeShift":
            self.shift_open = False
            return 0, "", {"fiscalParams": self._params(self._next_fd(), 0)}
        queries: dict[str, Callable[[], dict[str, Any]]] = {
            "getShiftStatus": lambda: {"shiftStatus": self.shift_status()},
            "getDeviceStatus": lambda: {"deviceStatus": self.device_status()},
            "getFnStatus": lambda: {"fnStatus": self.fn_status()},
            "getLastFiscalParams": lambda: {"fiscalParams": self.last_params()},
            "getDeviceInfo": lambda: {"deviceInfo": self.device_info()},
            "getFnInfo": lambda: {"fnInfo": self.fn_info()},
            "getRegistrationInfo": self.registration_info,
            "ofdExchangeStatus": self.ofd_exchange_status,
        }
        if isinstance(kind, str) and kind in queries:
            return 0, "", queries[kind]()
        if kind in ("reportX", "nonFiscal", "printLastReceiptCopy"):
            return 0, "", {}
        return 1, f"Неизвестный тип задания {kind!r}", {}

    def _receipt(self, task: ReceiptTask, request_uuid: str) -> tuple[int, str, dict[str, Any]]:
        if not self.shift_open:
            return 136, "Смена закрыта - операция невозможна", {}
        fd = self._next_fd()
        self.receipts_in_shift += 1
        total = Decimal(task.total_kopecks()) / 100
        params = self._params(fd, self.receipts_in_shift, total)
        self.journal.append(
            JournalEntry(
                self.fn_number,
                fd,
                params["fiscalDocumentSign"],
                params["fiscalDocumentDateTime"],
                task.type,
                f"{total:.2f}",
                task.contact,
                request_uuid,
            )
        )
        return 0, "", {"fiscalParams": params, "warnings": None}

    def _next_fd(self) -> int:
        self.last_fd[self.fn_number] = self.last_fd.get(self.fn_number, 0) + 1
        return self.last_fd[self.fn_number]

    def _params(self, fd: int, receipt_number: int, total: Decimal | None = None) -> dict[str, Any]:
        return {
            "fiscalDocumentNumber": fd,
            "fiscalDocumentSign": str(self.rng.randrange(10**8, 2**32 - 1)),
            "fiscalDocumentDateTime": now(),
            "fiscalReceiptNumber": receipt_number,
            "shiftNumber": self.shift_number,
            "fnNumber": self.fn_number,
            "registrationNumber": self.registration_number,
            "fnsUrl": FNS_URL,
            "total": float(total) if total is not None else None,
        }

    def last_params(self) -> dict[str, Any] | None:
        if not self.journal:
            return None
        last = self.journal[-1]
        return {
            "fiscalDocumentNumber": last.fiscal_document_number,
            "fiscalDocumentSign": last.fiscal_document_sign,
            "fiscalDocumentDateTime": last.date_time,
            "fiscalReceiptNumber": self.receipts_in_shift,
            "shiftNumber": self.shift_number,
            "fnNumber": last.fn_number,
            "registrationNumber": self.registration_number,
            "fnsUrl": FNS_URL,
            "total": float(last.total),
        }

    def status(self) -> dict[str, Any]:
        """/api/v2/operations' answers: the documented objects only (what getShiftStatus, getFnStatus and
        getDeviceInfo return), nothing a real web server would not say."""
        return {
            "shiftStatus": self.shift_status(),
            "fnStatus": self.fn_status(),
            "deviceInfo": self.device_info(),
        }

    def shift_status(self) -> dict[str, Any]:
        """getShiftStatus's `shiftStatus`."""
        return {
            "state": "opened" if self.shift_open else "closed",
            "number": self.shift_number,
            "documentsCount": self.receipts_in_shift,
            "expiredTime": (self.shift_opened_at + SHIFT_LENGTH).isoformat(),
        }

    def device_status(self) -> dict[str, Any]:
        """getDeviceStatus's `deviceStatus`: a healthy register with paper, its FN fiscalized."""
        return {
            "currentDateTime": now(),
            "shift": "opened" if self.shift_open else "closed",
            "blocked": False,
            "coverOpened": False,
            "paperPresent": True,
            "fiscal": True,
            "fnFiscal": True,
            "fnPresent": True,
            "cashDrawerOpened": False,
        }

    def fn_status(self) -> dict[str, Any]:
        """getFnStatus's `fnStatus`."""
        return {
            "fiscalDocumentNumber": self.last_fd.get(self.fn_number, 0),
            "fiscalReceiptNumber": self.receipts_in_shift,
            "warnings": dict(self.fn_warnings),
        }

    def device_info(self) -> dict[str, Any]:
        """getDeviceInfo's `deviceInfo`."""
        return {
            "model": 61,  # ATOL's model code of АТОЛ 30Ф, whose 57 mm tape this emulates
            "modelName": "АТОЛ 30Ф (эмулятор echeck)",
            "serial": self.serial,
            "firmwareVersion": "5.8.100",
            "configurationVersion": "5.8.100",
            "receiptLineLength": 32,
            "receiptLineLengthPix": 384,
            "ffdVersion": self.ffd_version,
            "fnFfdVersion": self.ffd_version,
        }

    def fn_info(self) -> dict[str, Any]:
        """getFnInfo's `fnInfo`: the FN's identity, life phase and warnings."""
        return {
            "serial": self.fn_number,
            "version": "fn v.2.0.0.1",
            "execution": "fn debug v 2.0",
            "numberOfRegistrations": 1,
            "registrationsRemaining": 29,
            "validityDate": f"{datetime.now().year + 1}-12-31T00:00:00+03:00",
            "ffdVersion": self.ffd_version,
            "fnContainsKeysUpdaterServerUri": False,
            "fnFfdVersion": self.ffd_version,
            "livePhase": self.fn_phase,
            "warnings": dict(self.fn_warnings),
        }

    def registration_info(self) -> dict[str, Any]:
        """getRegistrationInfo's result: `organization`, `device` (the register's modes) and `ofd`."""
        reg = self.registration
        return {
            "organization": {
                "name": reg.organization,
                "vatin": reg.vatin,
                "email": reg.email,
                "address": reg.address,
                "taxationTypes": list(reg.taxation_types),
                "agents": [],
            },
            "device": {
                "registrationNumber": self.registration_number,
                "paymentsAddress": reg.address,
                "fnsUrl": FNS_URL,
                "ffdVersion": self.ffd_version,
                "defaultTaxationType": reg.taxation_types[0],
                "ofdChannel": "proto",
                "machineNumber": "",
                "offlineMode": False,
                "machineInstallation": False,
                "bso": False,
                "encryption": False,
                "autoMode": False,
                "internet": False,
                "service": False,
                "gambling": False,
                "lottery": False,
                "excise": False,
            },
            "ofd": {
                "name": reg.ofd_name,
                "vatin": reg.ofd_vatin,
                "host": reg.ofd_host,
                "port": reg.ofd_port,
                "dns": reg.ofd_dns,
            },
        }

    def ofd_exchange_status(self) -> dict[str, Any]:
        """ofdExchangeStatus's result. No OFD answers the emulator: every receipt is still to be sent."""
        first = self.journal[0] if self.journal else None
        return {
            "status": {
                "notSentCount": len(self.journal),
                "notSentFirstDocNumber": first.fiscal_document_number if first else 0,
                "notSentFirstDocDateTime": first.date_time if first else self.started_at,
                "lastSuccessKeysUpdate": self.started_at,
            },
            "errors": {
                "network": {"code": 0, "description": "Ошибок нет"},
                "ofd": {"code": 0, "description": "Ошибок нет"},
                "fn": {"code": 0, "description": "Ошибок нет"},
                "documentNumber": 0,
                "fnCommandCode": 0,
                "lastSuccessConnectionDateTime": self.started_at,
            },
            "warnings": {"dataForSendIsEmpty": not self.journal},
        }
