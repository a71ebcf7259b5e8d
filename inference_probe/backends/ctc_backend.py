"""A Hugging Face Wav2Vec2ForCTC model loaded from a local directory (never a hub download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inference_probe.backends.base import Transcription
from inference_probe.confidence import token_probabilities, utterance_confidence
from inference_probe.ctc_decode import ctc_greedy
from inference_probe.timing import StageTimer, resolve_device
from inference_probe.whisper_convert import state_dict_sha256

SAMPLE_RATE = 16_000


class CtcBackend:
    kind = "ctc"

    def __init__(self, model_dir: str | Path, device: str = "auto"):
        try:
            from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC
        except ImportError:
            raise RuntimeError("the ctc backend needs `transformers`: pip install transformers") from None
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"--model: no Wav2Vec2ForCTC model (config.json) in {model_dir}")
        self.device = resolve_device(device)
        self.feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(model_dir, local_files_only=True)
        self.tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = Wav2Vec2ForCTC.from_pretrained(model_dir, local_files_only=True).to(self.device).eval()
        if self.feature_extractor.sampling_rate != SAMPLE_RATE:
            raise ValueError(f"{model_dir}: feature extractor expects {self.feature_extractor.sampling_rate} Hz, "
                             f"the probe feeds {SAMPLE_RATE} Hz")
        self.blank_id = self.tokenizer.pad_token_id
        self.model_name = f"ctc-{model_dir.name}"
        self.weights_sha256 = state_dict_sha256(self.model.state_dict())
        self.model_version = f"{self.model_name}@{self.weights_sha256[:12]}"

    def describe(self) -> dict:
        return {"backend": self.kind, "model": self.model_name, "weights_sha256": self.weights_sha256,
                "device": self.device, "decoding": {"method": "ctc_greedy", "blank_id": self.blank_id}}

    def transcribe_batch(self, audios: list[np.ndarray], timer: StageTimer) -> list[Transcription]:
        if not audios:
            return []
        with timer.stage("features"):
            inputs = self.feature_extractor(
                [np.asarray(a, dtype=np.float32) for a in audios], sampling_rate=SAMPLE_RATE,
                padding=True, return_attention_mask=True, return_tensors="pt")
            values = inputs["input_values"].to(self.device)
            mask = inputs["attention_mask"].to(self.device)
        with timer.stage("inference"), torch.inference_mode():
            logits = self.model(values, attention_mask=mask).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            frames = self.model._get_feat_extract_output_lengths(mask.sum(dim=-1)).tolist()
        with timer.stage("decode"):
            out = []
            logprobs_np = logprobs.cpu().numpy()
            for i, n in enumerate(frames):
                path = ctc_greedy(logprobs_np[i, : int(n)], self.blank_id)
                text = self.tokenizer.decode(path.ids, group_tokens=False, skip_special_tokens=True)
                out.append(Transcription(
                    text=text.strip(), confidence=utterance_confidence(path.logprobs),
                    token_probs=token_probabilities(path.logprobs),
                    tokens=self.tokenizer.convert_ids_to_tokens(path.ids)))
        return out

    def close(self) -> None:
        self.model = None
