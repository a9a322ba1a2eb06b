"""The README's demo command runs to its summary, and its numbers agree."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("hook", ["localhost", "atol"])
def test_demo_runs_to_a_summary_where_made_equals_acknowledged_equals_stored(
    tmp_path: Path, hook: str
) -> None:
    """`atol`: the till prints through the agent's ATOL proxy to the ATOL emulator (issue 6)."""
    demo = Path(sys.executable).parent / "echeck-demo"
    done = subprocess.run(
        [str(demo), "--receipts", "60", "--rate", "0", "--dir", str(tmp_path), "--hook", hook],
        capture_output=True,
        text=True,
        timeout=240,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
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
    if hook == "atol":  # the emulator printed every receipt, and the ones with a contact carry tag 1008
        journal = r"ATOL emulator journal: (\d+) fiscal documents, (\d+) with tag 1008"
        printed = re.search(journal, done.stdout)
        assert printed, done.stdout
        assert int(printed[1]) == numbers["rows in the cloud"]
        assert 0 < int(printed[2]) < int(printed[1])
