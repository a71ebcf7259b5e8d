"""Whisper in PyTorch: batched log-mel, encoder, greedy decoding with token probabilities."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from inference_probe.backends.base import Transcription
from collector.measures import hallucination
from inference_probe.confidence import token_probabilities, utterance_confidence, whisper_avg_logprob
from inference_probe.features import encoder_frames, log_mel, pad_batch
from inference_probe.model_store import WhisperWeights, build_model, load_weights
from inference_probe.timing import StageTimer, resolve_device
from inference_probe.whisper_decode import DecodingSettings, encode_audio, greedy_decode, token_budget


class WhisperBackend:
    kind = "whisper"

    def __init__(self, weights: WhisperWeights, device: str = "auto", fp16: bool | None = None,
                 settings: DecodingSettings | None = None):
        import whisper.tokenizer

        self.device = resolve_device(device)
        self.fp16 = self.device.startswith("cuda") if fp16 is None else fp16
        self.weights = weights
        self.model = build_model(weights, self.device, self.fp16)
        self.settings = settings or DecodingSettings()
        multilingual = self.model.is_multilingual
        self.tokenizer = whisper.tokenizer.get_tokenizer(
            multilingual, num_languages=self.model.num_languages,
            language="en" if multilingual else None, task="transcribe" if multilingual else None)

    @classmethod
    def load(cls, model: str | None = None, device: str = "auto", encoder_context: str | None = None,
             fp16: bool | None = None, cache=None) -> "WhisperBackend":
        settings = DecodingSettings()
        if encoder_context is not None:
            settings = replace(settings, encoder_context=encoder_context)
        return cls(load_weights(model, cache=cache), device=device, fp16=fp16, settings=settings)

    @property
    def model_name(self) -> str:
        return self.weights.name

    @property
    def model_version(self) -> str:
        return self.weights.model_version

    @property
    def weights_sha256(self) -> str:
        return self.weights.weights_sha256

    def describe(self) -> dict:
        return {"backend": self.kind, "model": self.model_name, "weights_sha256": self.weights_sha256,
                "weights_source": self.weights.source, "weights_source_sha256": self.weights.source_sha256,
                "device": self.device, "fp16": self.fp16, "decoding": self.settings.as_dict()}

    def transcribe_batch(self, audios: list[np.ndarray], timer: StageTimer) -> list[Transcription]:
        if not audios:
            return []
        with timer.stage("features"):
            frames = encoder_frames(max(len(a) for a in audios), self.settings.encoder_context)
            batch = pad_batch(audios, frames, self.device)
            with torch.inference_mode():
                mel = log_mel(batch, self.model.dims.n_mels)
                mel = mel.half() if self.fp16 else mel
        with timer.stage("inference"), torch.inference_mode():
            features = encode_audio(self.model, mel)
        with timer.stage("decode"):
            budgets = [token_budget(len(a) / 16_000, self.settings) for a in audios]
            results = greedy_decode(self.model, self.tokenizer, features, budgets, self.settings)
            out = []
            for res in results:
                text = self.tokenizer.decode(res.tokens).strip()
                out.append(Transcription(
                    text=text,
                    confidence=utterance_confidence(res.logprobs, res.eot_logprob),
                    token_probs=token_probabilities(res.logprobs),
                    tokens=[self.tokenizer.decode([t]) for t in res.tokens],
                    no_speech_prob=round(res.no_speech_prob, 6),
                    avg_logprob=round(whisper_avg_logprob(res.logprobs, res.eot_logprob), 6),
                    # Whisper's own formula on the decoded text (whisper/utils.py), as DecodingTask does.
                    compression_ratio=round(hallucination.compression_ratio(text), 6),
                    eot_prob=None if res.eot_logprob is None else round(math.exp(res.eot_logprob), 6),
                    truncated=res.truncated,
                ))
        return out

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
