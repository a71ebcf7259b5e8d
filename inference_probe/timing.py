"""Stage timing that is honest on GPUs: CUDA work is asynchronous, so each stage
boundary synchronizes the device before reading the clock."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class StageRecord:
    name: str
    start_ns: int  # wall clock (epoch ns), for span timestamps
    duration_ns: int  # monotonic clock, for latency


@dataclass
class StageTimer:
    device: str = "cpu"
    stages: list[StageRecord] = field(default_factory=list)

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._sync()
        wall, mono = time.time_ns(), time.perf_counter_ns()
        try:
            yield
        finally:
            self._sync()
            self.stages.append(StageRecord(name, wall, time.perf_counter_ns() - mono))

    def total_s(self) -> float:
        return sum(s.duration_ns for s in self.stages) / 1e9


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: str) -> float | None:
    """Peak memory torch allocated on the GPU since the last reset; None on CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**20


def resolve_device(requested: str = "auto") -> str:
    """auto -> cuda when a GPU is visible, else cpu; asking for cuda without one is an error."""
    import torch

    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {requested!r}")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    return requested
