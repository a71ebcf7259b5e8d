"""Model backends the probe can drive: the in-process Whisper model (default), a Hugging
Face CTC model from a local directory, or any OpenAI-compatible HTTP endpoint."""

from __future__ import annotations

BACKENDS = ("whisper", "ctc", "http")


def create_backend(kind: str, *, model: str | None = None, endpoint: str | None = None,
                   device: str = "auto", token: str | None = None, **options):
    """Build a backend by name; heavy imports happen here, not at CLI import time."""
    if kind == "whisper":
        from inference_probe.backends.whisper_backend import WhisperBackend

        return WhisperBackend.load(model, device=device, **options)
    if kind == "ctc":
        if not model:
            raise ValueError("--model: the ctc backend needs a local Wav2Vec2ForCTC directory")
        from inference_probe.backends.ctc_backend import CtcBackend

        return CtcBackend(model, device=device)
    if kind == "http":
        if not endpoint:
            raise ValueError("--endpoint: the http backend needs the ASR service URL")
        from inference_probe.backends.http_backend import HttpBackend

        return HttpBackend(endpoint, token=token, model=model or "whisper-1")
    raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {kind!r}")
