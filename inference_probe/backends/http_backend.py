"""Black-box probing of a live ASR service through the OpenAI-compatible
`POST /v1/audio/transcriptions` (multipart `file`, `model`, `response_format`)."""

from __future__ import annotations

import math

import httpx
import numpy as np

from collector.measures import hallucination
from inference_probe.audio_io import encode_wav
from inference_probe.backends.base import Transcription
from inference_probe.timing import StageTimer

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
MODEL_VERSION_HEADER = "x-model-version"


def transcriptions_url(endpoint: str) -> str:
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRANSCRIPTIONS_PATH) else endpoint + TRANSCRIPTIONS_PATH


def parse_response(body: dict) -> Transcription:
    """Text plus, from `verbose_json` segments, confidence and avg_logprob (duration-weighted),
    no_speech_prob (the highest) and compression_ratio (the highest)."""
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ValueError("response: expected a JSON object with a string 'text'")
    segments = [s for s in body.get("segments") or [] if isinstance(s, dict)]
    confidence = no_speech = mean_lp = None
    scored = [s for s in segments if isinstance(s.get("avg_logprob"), (int, float))]
    if scored:
        weights = [max(float(s.get("end", 0)) - float(s.get("start", 0)), 1e-3) for s in scored]
        mean_lp = sum(w * s["avg_logprob"] for w, s in zip(weights, scored)) / sum(weights)
        confidence = min(1.0, math.exp(mean_lp))
        probs = [s["no_speech_prob"] for s in scored if isinstance(s.get("no_speech_prob"), (int, float))]
        no_speech = max(probs) if probs else None
    token_probs = [p for s in segments for p in s.get("token_probs", []) if isinstance(p, (int, float))]
    # The service's own per-segment compression ratios (the highest: the worst window) when it
    # reports them, as Whisper's verbose_json does; else Whisper's formula on the whole text.
    ratios = [s["compression_ratio"] for s in segments if isinstance(s.get("compression_ratio"), (int, float))]
    text = body["text"].strip()
    return Transcription(text=text, confidence=confidence, no_speech_prob=no_speech, token_probs=token_probs,
                         avg_logprob=mean_lp,
                         compression_ratio=max(ratios) if ratios else hallucination.compression_ratio(text))


class HttpBackend:
    kind = "http"
    device = "remote"
    weights_sha256 = None

    def __init__(self, endpoint: str, token: str | None = None, model: str = "whisper-1",
                 timeout_s: float = 30.0):
        self.url = transcriptions_url(endpoint)
        self.model_name = model
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s)
        # Until the service tells us (x-model-version), the version is what we asked for.
        self.model_version = f"http:{model}"

    def describe(self) -> dict:
        return {"backend": self.kind, "endpoint": self.url, "model": self.model_name,
                "model_version": self.model_version}

    def _one(self, audio: np.ndarray, timer: StageTimer) -> Transcription:
        with timer.stage("features"):
            wav = encode_wav(audio)
        with timer.stage("inference"):
            try:
                response = self._http.post(
                    self.url, files={"file": ("audio.wav", wav, "audio/wav")},
                    data={"model": self.model_name, "response_format": "verbose_json", "language": "en"})
            except httpx.TimeoutException as exc:
                return Transcription("", status="timeout", error=f"{type(exc).__name__}")
            except httpx.TransportError as exc:
                return Transcription("", status="dropped", error=f"{type(exc).__name__}: {exc}")
        with timer.stage("decode"):
            if response.status_code != 200:
                return Transcription("", status="decode_error", error=f"HTTP {response.status_code}")
            if version := response.headers.get(MODEL_VERSION_HEADER):
                self.model_version = version[:128]
            try:
                return parse_response(response.json())
            except ValueError as exc:
                return Transcription("", status="decode_error", error=str(exc)[:200])

    def transcribe_batch(self, audios: list[np.ndarray], timer: StageTimer) -> list[Transcription]:
        return [self._one(a, timer) for a in audios]

    def close(self) -> None:
        self._http.close()
