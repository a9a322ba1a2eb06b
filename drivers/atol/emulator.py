"""An ATOL web server emulator (`echeck-atol-emulator`): the same HTTP API, an imaginary register behind it.

The register (drivers/atol/register.py) keeps per-FN document numbering, shift state, fiscal signs, fnsUrl
and a journal of every receipt it "printed" (with tag 1008). It can be told to be slow, to fail, to refuse
receipts, or to fiscalize and then answer an error (the field's duplicate-receipt trap):
POST /emulator/faults. GET /emulator/journal shows what it printed.
"""

import argparse
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from drivers.atol.register import AtolRegister
from drivers.atol.tasks import RECEIPT_TYPES, Submission, load_json


@dataclass
class Faults:
    slow_s: float = 0.0  # tasks stay "wait" this long
    fail_posts: int = 0  # the next N submissions answer 500 and are not queued
    fiscalize_then_error: int = 0  # the next N receipts print, then their result says error
    refuse_receipts: int = 0  # the next N receipts are refused with an error and nothing is printed


def task_result(code: int, text: str, result: dict[str, Any]) -> dict[str, Any]:
    """One entry of GET /api/v2/requests/{uuid}'s results. The error is said both ways clients read it:
    errorCode/errorDescription, and an `error` object {code, description}."""
    return {
        "status": "ready" if code == 0 else "error",
        "errorCode": code,
        "errorDescription": text,
        "error": {"code": code, "description": text or "Ошибок нет"},
        "result": result,
    }


class AtolEmulator:
    def __init__(self, register: AtolRegister | None = None, faults: Faults | None = None) -> None:
        self.register = register or AtolRegister()
        self.faults = faults or Faults()
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.bodies: list[bytes] = []  # every submission as it arrived, to prove what a proxy forwarded

    def submit(self, submission: Submission) -> int:
        with self._lock:
            if submission.uuid in self._results:
                return 409
            if self.faults.fail_posts:
                self.faults.fail_posts -= 1
                return 500
            self._results[submission.uuid] = [{"status": "wait"} for _ in submission.tasks]
        if self.faults.slow_s:
            timer = threading.Timer(self.faults.slow_s, self._run, (submission,))
            timer.daemon = True
            timer.start()
        else:
            self._run(submission)
        return 201

    def _run(self, submission: Submission) -> None:
        with self._lock:
            results = []
            for task in submission.tasks:
                receipt = task.get("type") in RECEIPT_TYPES
                if receipt and self.faults.refuse_receipts:
                    self.faults.refuse_receipts -= 1
                    results.append(task_result(44, "Нет бумаги", {}))  # libfptr's LIBFPTR_ERROR_NO_PAPER
                    continue
                code, text, result = self.register.execute(task, submission.uuid)
                if code == 0 and receipt and self.faults.fiscalize_then_error:
                    self.faults.fiscalize_then_error -= 1
                    code, text, result = 2, "Нет связи (таймаут ответа ККТ)", {}
                results.append(task_result(code, text, result))
            self._results[submission.uuid] = results

    def results(self, uuid: str) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._results.get(uuid)


def create_app(emulator: AtolEmulator) -> FastAPI:
    app = FastAPI(title="ATOL web server emulator (echeck)", description=__doc__)

    @app.post("/api/v2/requests")
    async def post_request(request: Request) -> Response:
        body = await request.body()
        emulator.bodies.append(body)
        try:
            submission = Submission.model_validate(load_json(body))
        except ValueError as exc:
            return JSONResponse({"error": {"code": 400, "description": str(exc)[:200]}}, status_code=400)
        code = emulator.submit(submission)
        return Response(status_code=code)

    @app.get("/api/v2/requests/{uuid}")
    def get_request(uuid: str) -> Response:
        results = emulator.results(uuid)
        if results is None:
            return JSONResponse({"error": {"code": 404, "description": "request not found"}}, status_code=404)
        return JSONResponse({"results": results})

    @app.get("/api/v2/operations/{query}")
    def device_query(query: str) -> Response:
        status = emulator.register.status()
        picks = {
            "queryFnStatus": "fnStatus",
            "queryShiftStatus": "shiftStatus",
            "queryDeviceInfo": "deviceInfo",
        }
        if query not in picks:
            return JSONResponse({"error": {"code": 404, "description": "unknown operation"}}, status_code=404)
        return JSONResponse({picks[query]: status[picks[query]]})

    @app.get("/emulator/journal")
    def journal() -> dict[str, Any]:
        entries = [asdict(e) for e in emulator.register.journal]
        return {
            "count": len(entries),
            "with_1008": sum(1 for e in entries if e["tag_1008"]),
            "entries": entries,
        }

    @app.post("/emulator/faults")
    def set_faults(faults: dict[str, float]) -> dict[str, Any]:
        for key, value in faults.items():
            if hasattr(emulator.faults, key):
                setattr(emulator.faults, key, type(getattr(emulator.faults, key))(value))
        return asdict(emulator.faults)

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="echeck-atol-emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=16732, help="ATOL's web server port (default 16732)")
    parser.add_argument(
        "--fn-serial", default="9999078902001234", help="the emulated FN's serial (16 digits)"
    )
    parser.add_argument("--slow", type=float, default=0.0, help="seconds every task waits before it runs")
    args = parser.parse_args(argv)
    emulator = AtolEmulator(AtolRegister(fn_number=args.fn_serial), Faults(slow_s=args.slow))
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
