"""The demo's tour checks: one that finds something wrong is recorded with its sentence, the rest go on."""

from fastapi import FastAPI, Request

from demo import tour
from tests.support.live_server import free_port, live_server


def _unguarded_agent() -> FastAPI:
    """A local API that takes any Host and any token: what the guards must catch."""
    app = FastAPI()

    @app.api_route("/pos/v1/{path:path}", methods=["GET", "POST"])
    def anything(request: Request) -> dict[str, str]:
        return {"host": request.headers.get("host", "")}

    return app


def test_an_unguarded_local_api_fails_its_check_with_a_sentence_and_the_next_check_still_runs() -> None:
    checks = tour.TourRun()
    with live_server(_unguarded_agent()) as url:
        checks.check("local API guards", lambda: tour.local_api_guards(url))
        checks.check("after it", lambda: [("after it", "ran")])
    assert checks.rows == [("local API guards", "FAILED (see below)"), ("after it", "ran")]
    [(name, why)] = checks.failed
    assert name == "local API guards"
    assert "Host rebind.attacker.example: expected 403, got 200" in why


def test_a_check_whose_service_is_gone_is_recorded_not_raised() -> None:
    checks = tour.TourRun()
    gone = f"http://127.0.0.1:{free_port()}"
    checks.check("local API guards", lambda: tour.local_api_guards(gone))
    assert [name for name, _why in checks.failed] == ["local API guards"]
    assert checks.failed[0][1]  # a sentence, never empty
