"""Batched greedy Whisper decoding that keeps what the probe reports: per-token
log-probabilities, the no-speech probability, and the tokens themselves.

It follows openai-whisper's `DecodingTask` at temperature 0 without timestamps (same
start sequence, the same default suppressed tokens, blank suppression on the first
step, confidence as whisper's `avg_logprob` with the end token counted), and adds what
a batched probe needs: finished rows leave the batch, and the encoder accepts a
window shorter than 30 s (see `features.encoder_frames`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DecodingSettings:
    temperature: float = 0.0
    beam_size: int = 1
    without_timestamps: bool = True
    suppress_tokens: str = "-1"
    suppress_blank: bool = True
    max_tokens: int = 224
    # Guard against hallucination loops on noise: at most this many tokens per second
    # of audio (fast English speech runs at about 4.5), plus a base allowance.
    max_tokens_per_second: float = 8.0
    max_tokens_base: int = 16
    # "trim": windows fitted to the batch (>= 10 s, see features.encoder_frames); "full": 30 s.
    encoder_context: str = "trim"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TokenResult:
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    eot_logprob: float | None = None
    no_speech_prob: float = 0.0
    truncated: bool = False


def token_budget(duration_s: float, settings: DecodingSettings) -> int:
    return min(settings.max_tokens, settings.max_tokens_base + math.ceil(duration_s * settings.max_tokens_per_second))


def suppressed_token_ids(tokenizer) -> list[int]:
    """whisper's `suppress_tokens="-1"` set, plus every timestamp token (we never want one)."""
    ids = set(tokenizer.non_speech_tokens)
    ids.update([tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev,
                tokenizer.sot_lm, tokenizer.no_timestamps])
    if tokenizer.no_speech is not None:
        ids.add(tokenizer.no_speech)
    return sorted(i for i in ids if i is not None)


def encode_audio(model, mel: torch.Tensor) -> torch.Tensor:
    """The Whisper encoder on a window of any length up to 30 s (the reference asserts 30 s)."""
    enc = model.encoder
    x = F.gelu(enc.conv1(mel))
    x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
    x = (x + enc.positional_embedding[: x.shape[1]]).to(x.dtype)
    for block in enc.blocks:
        x = block(x)
    return enc.ln_post(x)


class _KVCache:
    """Key/value cache keyed by projection module. whisper's own hooks tell cross- from
    self-attention by length (> 448 frames), which breaks for trimmed windows; here the
    kind is known from the module, and rows can be dropped when utterances finish."""

    def __init__(self, model):
        self.store: dict = {}
        self.hooks = []
        for block in model.decoder.blocks:
            for proj in (block.attn.key, block.attn.value):
                self.hooks.append(proj.register_forward_hook(self._append))
            for proj in (block.cross_attn.key, block.cross_attn.value):
                self.hooks.append(proj.register_forward_hook(self._keep))

    def _append(self, module, _inputs, output):
        if module in self.store:
            output = torch.cat([self.store[module], output], dim=1)
        self.store[module] = output
        return output

    def _keep(self, module, _inputs, output):
        self.store[module] = output
        return output

    def keep_rows(self, rows: torch.Tensor) -> None:
        for module, value in self.store.items():
            self.store[module] = value.index_select(0, rows)

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.store.clear()


@torch.inference_mode()
def greedy_decode(model, tokenizer, audio_features: torch.Tensor, budgets: list[int],
                  settings: DecodingSettings) -> list[TokenResult]:
    """Decode a batch of encoded clips; `budgets` caps each row's token count."""
    if settings.temperature != 0.0 or settings.beam_size != 1:
        raise ValueError("only greedy decoding (temperature 0, beam size 1) is implemented")
    device = audio_features.device
    batch = audio_features.shape[0]
    sot = list(tokenizer.sot_sequence_including_notimestamps)
    eot = tokenizer.eot
    results = [TokenResult() for _ in range(batch)]
    suppress = torch.tensor(suppressed_token_ids(tokenizer), device=device)
    blank = torch.tensor(tokenizer.encode(" ") + [eot], device=device)

    cache = _KVCache(model)
    try:
        tokens = torch.tensor([sot] * batch, device=device)
        logits = model.decoder(tokens, audio_features, kv_cache=cache.store)
        if tokenizer.no_speech is not None:
            probs_at_sot = logits[:, sot.index(tokenizer.sot)].float().softmax(dim=-1)
            for i, p in enumerate(probs_at_sot[:, tokenizer.no_speech].tolist()):
                results[i].no_speech_prob = p
        next_logits = logits[:, -1].float()
        active_rows = list(range(batch))
        features = audio_features
        step = 0
        while active_rows:
            next_logits[:, suppress] = -math.inf
            if step == 0 and settings.suppress_blank:
                next_logits[:, blank] = -math.inf
            logprobs = F.log_softmax(next_logits, dim=-1)
            chosen = logprobs.argmax(dim=-1)
            chosen_lp = logprobs.gather(1, chosen[:, None])[:, 0]
            # One device->host copy per step (token ids are exact in float64).
            host_tokens, host_lps = torch.stack([chosen.double(), chosen_lp.double()]).tolist()
            keep: list[int] = []
            for pos, (row, tok, lp) in enumerate(zip(active_rows, map(int, host_tokens), host_lps)):
                res = results[row]
                if tok == eot:
                    res.eot_logprob = lp
                    continue
                res.tokens.append(tok)
                res.logprobs.append(lp)
                if len(res.tokens) >= budgets[row]:
                    res.truncated = True
                    continue
                keep.append(pos)
            step += 1
            if not keep:
                break
            if len(keep) < len(active_rows):
                rows = torch.tensor(keep, device=device)
                cache.keep_rows(rows)
                features = features.index_select(0, rows)
                chosen = chosen.index_select(0, rows)
                active_rows = [active_rows[p] for p in keep]
            next_logits = model.decoder(chosen[:, None], features, kv_cache=cache.store)[:, -1].float()
    finally:
        cache.close()
    return results
