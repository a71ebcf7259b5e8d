"""CTranslate2 `WhisperSpec` variables -> an openai-whisper state dict and dimensions.

CTranslate2 fuses attention projections: self-attention q/k/v live in `linear_0` (rows
q, k, v), cross-attention keeps q in `linear_0` and fuses k/v in `linear_1`; the output
projection is the last linear. Whisper's key projection has no bias, so the converter
wrote zeros there and we drop them (after checking they are zeros). The vocabulary
projection is tied to the token embeddings in both formats.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import torch

from inference_probe.ct2_reader import Ct2FormatError, Ct2Model

N_MELS_BY_CONV1 = {80, 128}


def _float(ct2: Ct2Model, name: str) -> np.ndarray:
    arr = ct2.get(name)
    if ct2.aliases.get(name, name) in ct2.bfloat16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    if arr.dtype.kind != "f":
        raise Ct2FormatError(f"variable {name!r} is {arr.dtype}, expected floating point")
    return arr


def _scalar(ct2: Ct2Model, name: str) -> int:
    return int(ct2.get(name).reshape(-1)[0])


def _count_layers(ct2: Ct2Model, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in ct2.variables if (m := pattern.match(name))}
    if not indices or sorted(indices) != list(range(len(indices))):
        raise Ct2FormatError(f"{prefix}: layers are missing or not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def whisper_dims(ct2: Ct2Model) -> dict[str, int]:
    if ct2.spec_name != "WhisperSpec":
        raise Ct2FormatError(f"expected a WhisperSpec model, got {ct2.spec_name!r}")
    conv1 = ct2.get("encoder/conv1/weight")
    embeddings = ct2.get("decoder/embeddings/weight")
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(ct2.get("encoder/position_encodings/encodings").shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": _scalar(ct2, "encoder/num_heads"),
        "n_audio_layer": _count_layers(ct2, "encoder"),
        "n_vocab": int(embeddings.shape[0]),
        "n_text_ctx": int(ct2.get("decoder/position_encodings/encodings").shape[0]),
        "n_text_state": int(embeddings.shape[1]),
        "n_text_head": _scalar(ct2, "decoder/num_heads"),
        "n_text_layer": _count_layers(ct2, "decoder"),
    }
    if dims["n_mels"] not in N_MELS_BY_CONV1:
        raise Ct2FormatError(f"encoder/conv1/weight: unexpected mel count {dims['n_mels']}")
    return dims


def _split_rows(arr: np.ndarray, parts: int, name: str) -> list[np.ndarray]:
    if arr.shape[0] % parts:
        raise Ct2FormatError(f"{name}: {arr.shape[0]} rows do not split into {parts} projections")
    return np.split(arr, parts, axis=0)


def _no_key_bias(bias: np.ndarray, name: str) -> None:
    if np.any(bias != 0):
        raise Ct2FormatError(f"{name}: the key projection has a non-zero bias; Whisper's has none")


def _attention(ct2: Ct2Model, src: str, dst: str, cross: bool, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}_ln.weight"] = _float(ct2, f"{src}/layer_norm/gamma")
    out[f"{dst}_ln.bias"] = _float(ct2, f"{src}/layer_norm/beta")
    if cross:
        q_w, q_b = _float(ct2, f"{src}/linear_0/weight"), _float(ct2, f"{src}/linear_0/bias")
        k_w, v_w = _split_rows(_float(ct2, f"{src}/linear_1/weight"), 2, f"{src}/linear_1/weight")
        k_b, v_b = _split_rows(_float(ct2, f"{src}/linear_1/bias"), 2, f"{src}/linear_1/bias")
        _no_key_bias(k_b, f"{src}/linear_1/bias")
        out_linear = f"{src}/linear_2"
    else:
        q_w, k_w, v_w = _split_rows(_float(ct2, f"{src}/linear_0/weight"), 3, f"{src}/linear_0/weight")
        q_b, k_b, v_b = _split_rows(_float(ct2, f"{src}/linear_0/bias"), 3, f"{src}/linear_0/bias")
        _no_key_bias(k_b, f"{src}/linear_0/bias")
        out_linear = f"{src}/linear_1"
    out[f"{dst}.query.weight"], out[f"{dst}.query.bias"] = q_w, q_b
    out[f"{dst}.key.weight"] = k_w
    out[f"{dst}.value.weight"], out[f"{dst}.value.bias"] = v_w, v_b
    out[f"{dst}.out.weight"] = _float(ct2, f"{out_linear}/weight")
    out[f"{dst}.out.bias"] = _float(ct2, f"{out_linear}/bias")


def _ffn(ct2: Ct2Model, src: str, dst: str, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}.mlp_ln.weight"] = _float(ct2, f"{src}/layer_norm/gamma")
    out[f"{dst}.mlp_ln.bias"] = _float(ct2, f"{src}/layer_norm/beta")
    for ct2_index, torch_index in ((0, 0), (1, 2)):
        out[f"{dst}.mlp.{torch_index}.weight"] = _float(ct2, f"{src}/linear_{ct2_index}/weight")
        out[f"{dst}.mlp.{torch_index}.bias"] = _float(ct2, f"{src}/linear_{ct2_index}/bias")


def ct2_to_whisper_arrays(ct2: Ct2Model) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Map every tensor; the arrays keep the file's dtype (float16 for the bundled model)."""
    dims = whisper_dims(ct2)
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        out[f"encoder.{conv}.weight"] = _float(ct2, f"encoder/{conv}/weight")
        out[f"encoder.{conv}.bias"] = _float(ct2, f"encoder/{conv}/bias")
    out["encoder.positional_embedding"] = _float(ct2, "encoder/position_encodings/encodings")
    for i in range(dims["n_audio_layer"]):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _attention(ct2, f"{src}/self_attention", f"{dst}.attn", False, out)
        _ffn(ct2, f"{src}/ffn", dst, out)
    out["encoder.ln_post.weight"] = _float(ct2, "encoder/layer_norm/gamma")
    out["encoder.ln_post.bias"] = _float(ct2, "encoder/layer_norm/beta")

    embeddings = _float(ct2, "decoder/embeddings/weight")
    out["decoder.token_embedding.weight"] = embeddings
    out["decoder.positional_embedding"] = _float(ct2, "decoder/position_encodings/encodings")
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _attention(ct2, f"{src}/self_attention", f"{dst}.attn", False, out)
        _attention(ct2, f"{src}/attention", f"{dst}.cross_attn", True, out)
        _ffn(ct2, f"{src}/ffn", dst, out)
    out["decoder.ln.weight"] = _float(ct2, "decoder/layer_norm/gamma")
    out["decoder.ln.bias"] = _float(ct2, "decoder/layer_norm/beta")

    projection = ct2.aliases.get("decoder/projection/weight")
    if projection is None and "decoder/projection/weight" in ct2.variables:
        if not np.array_equal(ct2.variables["decoder/projection/weight"], embeddings):
            raise Ct2FormatError("decoder/projection/weight differs from the embeddings; Whisper ties them")
    elif projection not in (None, "decoder/embeddings/weight"):
        raise Ct2FormatError(f"decoder/projection/weight aliases {projection!r}, expected the embeddings")
    return dims, out


def to_torch_state_dict(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    # Copies: the arrays view the file buffer, which torch must not alias (read-only).
    return {name: torch.from_numpy(np.array(arr, copy=True)) for name, arr in arrays.items()}


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """Hash of names, dtypes, shapes and bytes in name order: equal iff the weights are equal."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{str(tensor.dtype)}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
