"""A CPU limit for a process, as a Kubernetes pod's `resources.limits.cpu` sets one.

The kubelet enforces a pod's CPU limit with CFS bandwidth control: a cgroup whose quota is
`limit x period` microseconds of CPU per period (100 ms), after which its threads wait for the
next period (Linux Documentation/scheduler/sched-bwc.rst; `cpu.cfs_quota_us` in cgroup v1,
`cpu.max` in cgroup v2). The load test puts each collector replica in such a cgroup so that,
on one small machine, a replica is limited the way a replica on its own small host or pod would
be, and adding replicas adds CPU to the collectors and nothing else.

Needs root and a cgroup `cpu` controller mounted read-write (v2 at /sys/fs/cgroup, or v1 at
/sys/fs/cgroup/cpu); `CpuQuota.available()` says why not where it cannot work.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

PERIOD_US = 100_000  # the kernel's and the kubelet's default CFS period
_V2 = Path("/sys/fs/cgroup")
_V1 = Path("/sys/fs/cgroup/cpu")


def _hierarchy() -> tuple[str, Path] | None:
    controllers = _V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return "v2", _V2
    if (_V1 / "cpu.cfs_quota_us").exists():
        return "v1", _V1
    return None


class CpuQuota:
    """One cgroup limited to `cores` CPUs; `add(pid)` moves a process (and its future children)
    into it. Use as a context manager: the cgroup is removed on the way out, its processes
    moved back to the parent first."""

    def __init__(self, cores: float, name: str | None = None) -> None:
        if not cores > 0:
            raise ValueError(f"cores: a CPU limit must be > 0, got {cores!r}")
        problem = self.available()
        if problem:
            raise RuntimeError(problem)
        self.cores = cores
        self.version, root = _hierarchy()  # type: ignore[misc]  # available() checked it
        self.root = root
        self.path = root / (name or f"asrwatch-load-{uuid.uuid4().hex[:8]}")

    @staticmethod
    def available() -> str | None:
        """None when a quota can be set here, else why not."""
        found = _hierarchy()
        if found is None:
            return "no cgroup cpu controller (v2 /sys/fs/cgroup with cpu, or v1 /sys/fs/cgroup/cpu)"
        version, root = found
        if not os.access(root, os.W_OK):
            return f"cgroup {version} at {root} is not writable (run as root)"
        if version == "v2" and "cpu" not in (root / "cgroup.subtree_control").read_text().split() \
                and Path("/proc/self/cgroup").read_text().strip() != "0::/":
            # Inside a container's own cgroup namespace /sys/fs/cgroup holds processes (this one),
            # and the kernel refuses to hand a controller down from a group with processes in it
            # (the no-internal-process rule; only the real root is exempt).
            return (f"cgroup v2 at {root} does not hand the cpu controller to child groups "
                    "(a container's own cgroup?): enable +cpu in its cgroup.subtree_control first")
        return None

    def __enter__(self) -> "CpuQuota":
        quota = max(1_000, round(self.cores * PERIOD_US))  # the kernel's floor is 1 ms
        if self.version == "v2":
            # A child of the root only gets the cpu files once the root hands the controller down.
            with contextlib.suppress(OSError):
                (self.root / "cgroup.subtree_control").write_text("+cpu")
        self.path.mkdir()
        try:
            if self.version == "v2":
                if not (self.path / "cpu.max").exists():
                    raise RuntimeError(f"cgroup v2: {self.root} did not hand the cpu controller down to "
                                       f"{self.path.name} (cgroup.subtree_control has no cpu)")
                (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        except BaseException:
            self.path.rmdir()  # no process is in it yet: a failed or interrupted setup leaves nothing
            raise
        return self

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def quota(self) -> tuple[int, int]:
        """(quota, period) in microseconds, as the kernel holds them."""
        if self.version == "v2":
            quota, period = (self.path / "cpu.max").read_text().split()
            return int(quota), int(period)
        return (int((self.path / "cpu.cfs_quota_us").read_text()),
                int((self.path / "cpu.cfs_period_us").read_text()))

    def throttled(self) -> tuple[int, int]:
        """(periods the group ran in, periods it was throttled in), from cpu.stat."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines() if line.strip())
        return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0))

    def __exit__(self, *exc: object) -> None:
        if not self.path.exists():
            return
        # Back to the hierarchy's root, where the load test's processes start (a process still
        # here when its replica was stopped); a cgroup with a process in it cannot be removed.
        parent = self.root / "cgroup.procs"
        for pid in (self.path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # gone already
                parent.write_text(pid)
        self.path.rmdir()
