"""The README's demo command runs to its summary, and its numbers agree."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pos_plugin.contract import CashierAnswer

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]  # the checkout these tests sit in: the demo runs its code


def _row(label: str, value: str, stdout: str) -> re.Match[str]:
    """One row of the summary's tables: `│ label │ value │`, value a regex."""
    found = re.search(rf"│ {label}\s*│\s*{value} │", stdout)
    assert found, f"no row {label!r} matching {value!r} in\n{stdout}"
    return found


@pytest.mark.timeout(600)  # the field simulator's minute on top of the day, on a shared 2-core machine
@pytest.mark.parametrize("hook", ["localhost", "atol"])
def test_demo_runs_to_a_summary_where_made_equals_acknowledged_equals_stored(
    tmp_path: Path, hook: str
) -> None:
    """`atol`: the till prints through the agent's ATOL proxy to the ATOL emulator (issue 6)."""
    demo = Path(sys.executable).parent / "echeck-demo"
    field = ["--field", "60" if hook == "localhost" else "0"]  # the field simulator once, small
    done = subprocess.run(
        [str(demo), "--receipts", "60", "--rate", "0", "--dir", str(tmp_path), "--hook", hook, *field],
        capture_output=True,
        text=True,
        timeout=540,
        # A clean environment, except that this checkout's code wins over the venv's editable install.
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    numbers = {
        label: int(value)
        for label, value in re.findall(
            r"│ (receipts made at the till|acknowledged by the cloud|rows in the cloud)"
            r"\s*│\s*(\d+) │",
            done.stdout,
        )
    }
    assert len(numbers) == 3, done.stdout
    assert len(set(numbers.values())) == 1
    assert numbers["rows in the cloud"] > 50
    assert "OK: every receipt made is in the cloud exactly once" in done.stdout
    assert (tmp_path / "logs" / "agent.log").stat().st_size > 0
    _tour_rows_agree(done.stdout, numbers["rows in the cloud"], hook)
    if hook == "localhost":  # the demo ends with the field's ROPO summary and the dashboards, signed in
        assert "the field: 60 buyers" in done.stdout, done.stdout
        assert re.search(r"ROPO revenue share, receipts with a contact", done.stdout), done.stdout
        for path in ("/reports/ropo", "/reports/sending", "/reports/elements", "/reports/fleet", "/identity"):
            assert re.search(rf"{path}\s+http://127\.0\.0\.1:\d+{path}  \(200, ", done.stdout), done.stdout
    if hook == "atol":  # the emulator printed every receipt, and the ones with a contact carry tag 1008
        journal = r"ATOL emulator journal: (\d+) fiscal documents, (\d+) with tag 1008"
        printed = re.search(journal, done.stdout)
        assert printed, done.stdout
        assert int(printed[1]) == numbers["rows in the cloud"]
        assert 0 < int(printed[2]) < int(printed[1])


def _tour_rows_agree(stdout: str, rows_in_cloud: int, hook: str) -> None:
    """Head office, privacy and the till (issues 11, 12): each figure measured in the run, each check held."""
    assert "TOUR CHECK FAILED" not in stdout
    doctor = _row("doctor ok / warning / error", r"(\d+) / (\d+) / (\d+), exit (\d+)", stdout)
    assert int(doctor[1]) > 0
    if hook == "localhost":  # nothing wrong: no cashier UI is only a warning when the POS asks itself
        assert (doctor[3], doctor[4]) == ("0", "0")
        _row("  doctor warning", "no cashier UI is connected", stdout)
    else:  # the ATOL proxy needs the popup to ask (and the emulator sends nothing to an OFD): errors, exit 1
        assert doctor[4] == "1"
        _row("  doctor error", "no cashier UI is connected", stdout)
        assert len(re.findall(r"│   doctor error ", stdout)) == int(doctor[3])
    _row("local API, foreign Host", r"403 \(rebind\.attacker\.example\)", stdout)
    _row("local API, wrong POS token", "401", stdout)
    asked = _row("POS ask, no UI: p50 / p95", r"(\d+) / (\d+) ms \((\w+) (\d+)\)", stdout)
    assert int(asked[1]) <= int(asked[2])
    # An agent with the no_ui answer gives it to every ask at once; one without waits each ask out.
    assert asked[3] == ("no_ui" if "NO_UI" in CashierAnswer.__members__ else "timed_out")
    assert asked[4] == "10"
    signed_in = _row(
        r"head office sign-in \(owner\)", r"/reports/fleet 200 in \d+ ms, register\(s\) ([\d, ]+)", stdout
    )
    assert signed_in[1].strip()
    _row("  sign-out with the CSRF token", "/reports/fleet → /login", stdout)
    _row(r"read-only API key ek_[\w-]+…", "read 200, opt-out 403", stdout)
    erased = _row(
        r"erased \+7 \*\*\* \*\*\*-\d\d-\d\d \(API\)",
        # the kinds erased since grew (page answers, exposures, identity links): any after these three
        r"\d+ ms: receipts (\d+), push_devices \d+, opt_outs \d+(?:, \w+ \d+)*",
        stdout,
    )
    kept = _row("  fiscal rows kept / with the phone", r"(\d+) / 0 \(was (\d+)\), logged #\d+", stdout)
    assert int(kept[1]) == rows_in_cloud
    assert int(kept[2]) == int(erased[1]) >= 1
    _row("wall time of these checks", r"[\d.]+ s", stdout)
