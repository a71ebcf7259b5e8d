"""bench/load.py's scaling sweep: the CPU limit it puts on each replica, and its summary.

The limit is the kernel's CFS bandwidth control, as the kubelet sets it for a pod's CPU limit
(Linux Documentation/scheduler/sched-bwc.rst): checked here on a real cgroup where this
machine lets us make one (root, a cgroup cpu controller), skipped with the reason elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from cpu_quota import PERIOD_US, CpuQuota  # noqa: E402
from load import scaling  # noqa: E402


def _run(replicas: int, rate: float, **extra: float) -> dict:
    return {"replicas": replicas, "sessions_per_s": rate, "cores_busy_collectors": 0.1 * replicas,
            "cores_busy_postgres": 0.3 * replicas, "cores_busy_load_generator": 0.05, "cores_busy_machine": 0.5,
            "p99_ms": 900.0, "throttled_share": 0.9, "lost": 0, **extra}


def test_scaling_rows_take_medians_over_rounds_and_compare_with_the_fewest_replicas() -> None:
    runs = [_run(1, 1000.0), _run(2, 1900.0), _run(1, 1200.0), _run(2, 2300.0), _run(1, 1100.0),
            _run(2, 2100.0, lost=3)]
    rows = scaling(runs)
    assert [r["replicas"] for r in rows] == [1, 2]
    one, two = rows
    assert (one["rounds"], one["sessions_per_s_min"], one["sessions_per_s_median"], one["sessions_per_s_max"]) \
        == (3, 1000.0, 1100.0, 1200.0)
    assert (two["sessions_per_s_min"], two["sessions_per_s_median"], two["sessions_per_s_max"]) \
        == (1900.0, 2100.0, 2300.0)
    assert one["speedup"] == 1.0
    assert two["speedup"] == pytest.approx(2100 / 1100)
    assert two["speedup_per_replica"] == pytest.approx(2100 / 1100 / 2)
    assert two["cores_busy_postgres"] == pytest.approx(0.6)
    assert two["lost"] == 3 and one["lost"] == 0


def test_scaling_without_a_cpu_limit_reports_no_throttling() -> None:
    rows = scaling([_run(2, 500.0, throttled_share=None), _run(4, 900.0, throttled_share=None)])
    assert [r["throttled_share"] for r in rows] == [None, None]
    # The base is the fewest replicas run, not 1.
    assert rows[1]["speedup"] == pytest.approx(1.8) and rows[1]["speedup_per_replica"] == pytest.approx(0.9)


def test_a_cpu_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cores"):
        CpuQuota(0)


@pytest.mark.skipif(CpuQuota.available() is not None, reason=f"no CPU quota here: {CpuQuota.available()}")
def test_a_process_in_the_quota_is_held_to_it_and_the_cgroup_goes_away() -> None:
    with CpuQuota(0.2) as quota:
        assert quota.quota() == (20_000, PERIOD_US)
        # Spins until it has used 0.2 s of CPU: at 20 ms per 100 ms period it hits the quota in
        # every period it gets its 20 ms in, about ten of them (only a machine so busy that the
        # child got under 20 ms a period for the whole spin would see fewer than two).
        child = subprocess.Popen([sys.executable, "-c",
                                  "import time\nwhile time.process_time() < 0.2: pass"])
        quota.add(child.pid)
        assert child.wait(60) == 0
        periods, throttled = quota.throttled()
        assert throttled >= 2 and periods >= throttled
        path = quota.path
        assert path.exists()
    assert not path.exists()


@pytest.mark.skipif(CpuQuota.available() is not None, reason=f"no CPU quota here: {CpuQuota.available()}")
def test_a_quota_the_kernel_refuses_leaves_no_cgroup_behind() -> None:
    quota = CpuQuota(1e9)  # 1e14 us a period: past the kernel's maximum quota
    with pytest.raises(OSError):
        quota.__enter__()
    assert not quota.path.exists()
