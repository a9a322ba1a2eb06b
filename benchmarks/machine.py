"""What the machine was doing while a benchmark ran: CPU steal and idle (Linux /proc), and a process's cost.

On a shared virtual machine the host can take the CPU away ("steal"); a wake-up then waits for it, and the
tail of every latency figure moves with the neighbours, not with our code. So each module's run is printed
with the steal it saw, and the drivers benchmark also reports the hook's CPU time and context switches per
receipt, which the host's load does not change.
"""

import glob
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuTimes:
    busy: int
    idle: int
    steal: int

    @classmethod
    def now(cls) -> "CpuTimes | None":
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None  # not Linux: no figure
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return cls(user + nice + system + irq + softirq, idle + iowait, steal)

    def percent_since(self, earlier: "CpuTimes") -> tuple[float, float]:
        """(steal %, idle %) of all CPU time between the two readings."""
        busy, idle, steal = self.busy - earlier.busy, self.idle - earlier.idle, self.steal - earlier.steal
        total = max(busy + idle + steal, 1)
        return 100 * steal / total, 100 * idle / total


@dataclass(frozen=True)
class ProcessCost:
    cpu_s: float  # user + system, all threads
    switches: int  # voluntary + involuntary context switches, all threads

    @classmethod
    def of(cls, pid: int) -> "ProcessCost":
        ticks = os.sysconf("SC_CLK_TCK")
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        switches = 0
        for status in glob.glob(f"/proc/{pid}/task/*/status"):
            for line in Path(status).read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        return cls((int(stat[11]) + int(stat[12])) / ticks, switches)

    def per(self, earlier: "ProcessCost", count: int) -> tuple[float, float]:
        """(CPU ms, context switches) per unit of work between the two readings."""
        return (self.cpu_s - earlier.cpu_s) * 1000 / count, (self.switches - earlier.switches) / count
