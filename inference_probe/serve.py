"""`asrwatch probe-serve`: the Whisper backend behind an OpenAI-compatible
`POST /v1/audio/transcriptions`, so the black-box (`http`) probe has a real target."""

from __future__ import annotations

import io
import math
import threading

import numpy as np
from fastapi import FastAPI, File, Form, Header, HTTPException, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse

from inference_probe.audio_io import SAMPLE_RATE, resample, to_mono
from inference_probe.backends.http_backend import MODEL_VERSION_HEADER
from inference_probe.timing import StageTimer

RESPONSE_FORMATS = ("json", "text", "verbose_json")


def _error(status: int, message: str, param: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": param}},
                        status_code=status)


def decode_upload(data: bytes) -> np.ndarray:
    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    return resample(to_mono(np.asarray(audio, dtype=np.float32)), int(rate), SAMPLE_RATE)


def create_serve_app(backend, token: str | None = None) -> FastAPI:
    app = FastAPI(title="asrwatch probe-serve", version="1")
    lock = threading.Lock()  # one model, one batch at a time

    def check_token(authorization: str | None) -> None:
        if token and authorization != f"Bearer {token}":
            raise HTTPException(401, "missing or wrong bearer token")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "model_version": backend.model_version}

    @app.get("/v1/models")
    def models(authorization: str | None = Header(None)) -> dict:
        check_token(authorization)
        return {"object": "list", "data": [{"id": backend.model_version, "object": "model", "owned_by": "asrwatch"}]}

    @app.post("/v1/audio/transcriptions")
    def transcriptions(file: UploadFile = File(...), model: str = Form("whisper-1"),
                       response_format: str = Form("json"), language: str | None = Form(None),
                       temperature: float = Form(0.0), authorization: str | None = Header(None)):
        check_token(authorization)
        if response_format not in RESPONSE_FORMATS:
            return _error(400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}", "response_format")
        if language not in (None, "", "en"):
            return _error(400, "this model transcribes English only (language=en)", "language")
        try:
            audio = decode_upload(file.file.read())
        except Exception as exc:
            return _error(400, f"unreadable audio: {exc}", "file")
        if audio.size == 0:
            return _error(400, "the audio has no samples", "file")
        with lock:
            result = backend.transcribe_batch([audio], StageTimer(backend.device))[0]
        headers = {MODEL_VERSION_HEADER: backend.model_version}
        if response_format == "text":
            return PlainTextResponse(result.text, headers=headers)
        body: dict = {"text": result.text}
        if response_format == "verbose_json":
            duration = len(audio) / SAMPLE_RATE
            body.update(task="transcribe", language="english", duration=duration, segments=[{
                "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": result.text, "tokens": [],
                "temperature": 0.0,
                "avg_logprob": result.avg_logprob if result.avg_logprob is not None else
                math.log(result.confidence) if result.confidence else None,
                "compression_ratio": result.compression_ratio,
                "no_speech_prob": result.no_speech_prob, "token_probs": result.token_probs,
            }])
        return JSONResponse(body, headers=headers)

    return app
