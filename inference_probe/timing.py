"""Stage timing that is honest on GPUs: CUDA work is asynchronous, so each stage
boundary synchronizes the device before reading the clock.

Per-utterance latency and RTFx follow the Open ASR Leaderboard
(huggingface/open_asr_leaderboard, transformers/run_eval.py): one clock around a batch,
from the audio arrays to the decoded text (features, model, token decoding), after
warm-up batches that are not counted; each sample's time is the batch's time divided by
the batch size, and RTFx = sum of audio seconds / sum of transcription seconds.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

# The monotonic clock every duration here is read from (a module attribute, so a test
# can drive it and check the arithmetic exactly).
clock_ns = time.perf_counter_ns


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
        _sync(self.device)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._sync()
        wall, mono = time.time_ns(), clock_ns()
        try:
            yield
        finally:
            self._sync()
            self.stages.append(StageRecord(name, wall, clock_ns() - mono))

    def total_s(self) -> float:
        return sum(s.duration_ns for s in self.stages) / 1e9


@dataclass
class Stopwatch:
    seconds: float = 0.0


@contextmanager
def batch_clock(device: str = "cpu") -> Iterator[Stopwatch]:
    """One clock around a whole batch (the leaderboard's `time.time()` pair), synchronized
    on CUDA at both ends so queued kernels are counted in the batch that launched them."""
    watch = Stopwatch()
    _sync(device)
    start = clock_ns()
    try:
        yield watch
    finally:
        _sync(device)
        watch.seconds = (clock_ns() - start) / 1e9


def split_evenly(batch_seconds: float, n: int) -> list[float]:
    """Each of a batch's `n` samples gets an equal share of its time (the leaderboard's
    `minibatch_size * [runtime / minibatch_size]`)."""
    if n < 1:
        raise ValueError(f"a batch has at least one sample, got {n}")
    return [batch_seconds / n] * n


def rtfx(audio_seconds: float, transcription_seconds: float) -> float | None:
    """Inverse real-time factor: seconds of audio transcribed per second of compute."""
    return audio_seconds / transcription_seconds if transcription_seconds > 0 else None


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


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
