"""CTranslate2 reader and the CTranslate2 -> openai-whisper converter."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from prerequisites import need_module

torch = need_module("torch")

from inference_probe.ct2_reader import Ct2FormatError, read_ct2_model  # noqa: E402
from inference_probe.errors import WeightsError  # noqa: E402
from inference_probe.whisper_convert import ct2_to_whisper_arrays, state_dict_sha256, to_torch_state_dict  # noqa: E402

DTYPE_IDS = {np.float32: 0, np.int8: 1, np.int16: 2, np.int32: 3, np.float16: 4}


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def write_ct2(path, variables: dict[str, np.ndarray], aliases: dict[str, str], version: int = 6,
              spec: str = "WhisperSpec") -> None:
    out = struct.pack("<I", version) + _string(spec) + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    for name, arr in variables.items():
        out += _string(name) + struct.pack("<B", arr.ndim) + b"".join(struct.pack("<I", d) for d in arr.shape)
        out += struct.pack("<B", DTYPE_IDS[arr.dtype.type]) + struct.pack("<I", arr.nbytes) + arr.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    path.write_bytes(out)


def tiny_whisper_spec(rng, state: int = 8, vocab: int = 12, mels: int = 80) -> tuple[dict, dict]:
    """A one-layer WhisperSpec with random float16 weights and zero key biases."""
    f = lambda *shape: rng.standard_normal(shape).astype(np.float16)  # noqa: E731
    v: dict[str, np.ndarray] = {
        "encoder/num_heads": np.array(2, dtype=np.int16), "decoder/num_heads": np.array(2, dtype=np.int16),
        "encoder/conv1/weight": f(state, mels, 3), "encoder/conv1/bias": f(state),
        "encoder/conv2/weight": f(state, state, 3), "encoder/conv2/bias": f(state),
        "encoder/position_encodings/encodings": f(6, state),
        "encoder/layer_norm/gamma": f(state), "encoder/layer_norm/beta": f(state),
        "decoder/embeddings/weight": f(vocab, state), "decoder/position_encodings/encodings": f(5, state),
        "decoder/layer_norm/gamma": f(state), "decoder/layer_norm/beta": f(state),
    }

    def attention(prefix: str, cross: bool) -> None:
        v[f"{prefix}/layer_norm/gamma"], v[f"{prefix}/layer_norm/beta"] = f(state), f(state)
        if cross:
            v[f"{prefix}/linear_0/weight"], v[f"{prefix}/linear_0/bias"] = f(state, state), f(state)
            kv_bias = f(2 * state)
            kv_bias[:state] = 0
            v[f"{prefix}/linear_1/weight"], v[f"{prefix}/linear_1/bias"] = f(2 * state, state), kv_bias
            v[f"{prefix}/linear_2/weight"], v[f"{prefix}/linear_2/bias"] = f(state, state), f(state)
        else:
            qkv_bias = f(3 * state)
            qkv_bias[state:2 * state] = 0
            v[f"{prefix}/linear_0/weight"], v[f"{prefix}/linear_0/bias"] = f(3 * state, state), qkv_bias
            v[f"{prefix}/linear_1/weight"], v[f"{prefix}/linear_1/bias"] = f(state, state), f(state)

    def ffn(prefix: str) -> None:
        v[f"{prefix}/layer_norm/gamma"], v[f"{prefix}/layer_norm/beta"] = f(state), f(state)
        v[f"{prefix}/linear_0/weight"], v[f"{prefix}/linear_0/bias"] = f(4 * state, state), f(4 * state)
        v[f"{prefix}/linear_1/weight"], v[f"{prefix}/linear_1/bias"] = f(state, 4 * state), f(state)

    attention("encoder/layer_0/self_attention", False)
    ffn("encoder/layer_0/ffn")
    attention("decoder/layer_0/self_attention", False)
    attention("decoder/layer_0/attention", True)
    ffn("decoder/layer_0/ffn")
    return v, {"decoder/projection/weight": "decoder/embeddings/weight"}


def test_fused_projections_are_split_into_query_key_value(tmp_path):
    variables, aliases = tiny_whisper_spec(np.random.default_rng(0))
    write_ct2(tmp_path / "model.bin", variables, aliases)
    dims, sd = ct2_to_whisper_arrays(read_ct2_model(tmp_path / "model.bin"))
    assert dims == {"n_mels": 80, "n_audio_ctx": 6, "n_audio_state": 8, "n_audio_head": 2, "n_audio_layer": 1,
                    "n_vocab": 12, "n_text_ctx": 5, "n_text_state": 8, "n_text_head": 2, "n_text_layer": 1}
    fused = variables["decoder/layer_0/self_attention/linear_0/weight"]
    assert np.array_equal(sd["decoder.blocks.0.attn.query.weight"], fused[:8])
    assert np.array_equal(sd["decoder.blocks.0.attn.key.weight"], fused[8:16])
    assert np.array_equal(sd["decoder.blocks.0.attn.value.weight"], fused[16:])
    assert "decoder.blocks.0.attn.key.bias" not in sd
    kv = variables["decoder/layer_0/attention/linear_1/weight"]
    assert np.array_equal(sd["decoder.blocks.0.cross_attn.query.weight"], variables["decoder/layer_0/attention/linear_0/weight"])
    assert np.array_equal(sd["decoder.blocks.0.cross_attn.key.weight"], kv[:8])
    assert np.array_equal(sd["decoder.blocks.0.cross_attn.value.weight"], kv[8:])
    assert np.array_equal(sd["decoder.blocks.0.cross_attn.out.weight"], variables["decoder/layer_0/attention/linear_2/weight"])
    assert np.array_equal(sd["encoder.blocks.0.mlp.2.weight"], variables["encoder/layer_0/ffn/linear_1/weight"])

    from whisper.model import ModelDimensions, Whisper

    model = Whisper(ModelDimensions(**dims))
    model.load_state_dict(to_torch_state_dict(sd), strict=True)  # every tensor mapped, nothing extra


def test_key_bias_and_untied_projection_are_rejected(tmp_path):
    variables, aliases = tiny_whisper_spec(np.random.default_rng(1))
    bad = dict(variables)
    bias = bad["encoder/layer_0/self_attention/linear_0/bias"].copy()
    bias[8] = 1.0
    bad["encoder/layer_0/self_attention/linear_0/bias"] = bias
    write_ct2(tmp_path / "bias.bin", bad, aliases)
    with pytest.raises(Ct2FormatError, match="encoder/layer_0/self_attention/linear_0/bias: the key projection"):
        ct2_to_whisper_arrays(read_ct2_model(tmp_path / "bias.bin"))
    write_ct2(tmp_path / "alias.bin", variables, {"decoder/projection/weight": "encoder/conv1/weight"})
    with pytest.raises(Ct2FormatError, match="aliases 'encoder/conv1/weight'"):
        ct2_to_whisper_arrays(read_ct2_model(tmp_path / "alias.bin"))


def test_reader_names_version_and_truncation_errors(tmp_path):
    variables, aliases = tiny_whisper_spec(np.random.default_rng(2))
    write_ct2(tmp_path / "v9.bin", variables, aliases, version=9)
    with pytest.raises(Ct2FormatError, match="binary version 9 is not supported"):
        read_ct2_model(tmp_path / "v9.bin")
    write_ct2(tmp_path / "ok.bin", variables, aliases)
    (tmp_path / "cut.bin").write_bytes((tmp_path / "ok.bin").read_bytes()[:500])
    with pytest.raises(Ct2FormatError, match="truncated"):
        read_ct2_model(tmp_path / "cut.bin")
    write_ct2(tmp_path / "spec.bin", variables, aliases, spec="TransformerSpec")
    with pytest.raises(Ct2FormatError, match="expected a WhisperSpec"):
        ct2_to_whisper_arrays(read_ct2_model(tmp_path / "spec.bin"))
    with pytest.raises(FileNotFoundError):
        read_ct2_model(tmp_path / "missing.bin")


def test_bundled_conversion_is_identical_across_loads_and_cached(tmp_path):
    from inference_probe import model_store

    first = model_store.load_bundled(cache=tmp_path)
    assert not first.from_cache
    assert first.weights_sha256 == model_store.PINNED_WEIGHTS_SHA256
    assert first.dims["n_vocab"] == 51864 and first.dims["n_text_layer"] == 4
    assert first.model_version == f"whisper-tiny.en@{model_store.PINNED_WEIGHTS_SHA256[:12]}"
    again = model_store.convert_ct2(model_store.bundled_model_bin())[1]
    assert state_dict_sha256(again) == first.weights_sha256
    assert all(torch.equal(again[k], first.state_dict[k]) for k in again)

    cached = model_store.load_bundled(cache=tmp_path)
    assert cached.from_cache and cached.weights_sha256 == first.weights_sha256

    # A corrupted cache entry is detected by its hash and rebuilt, never used.
    (cache_file,) = (tmp_path / "models").glob("*.pt")
    ckpt = torch.load(cache_file, weights_only=True)
    ckpt["model_state_dict"]["decoder.ln.bias"] += 1
    torch.save(ckpt, cache_file)
    rebuilt = model_store.load_bundled(cache=tmp_path)
    assert not rebuilt.from_cache and rebuilt.weights_sha256 == first.weights_sha256


def test_openai_whisper_checkpoint_path_is_accepted(tmp_path):
    from inference_probe import model_store

    weights = model_store.load_bundled(cache=tmp_path)
    path = tmp_path / "tiny-en-copy.pt"
    torch.save({"dims": weights.dims, "model_state_dict": weights.state_dict}, path)
    loaded = model_store.load_weights(str(path))
    assert loaded.weights_sha256 == weights.weights_sha256
    assert loaded.name == "whisper-tiny-en-copy"
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="not an openai-whisper checkpoint"):
        model_store.load_weights(str(tmp_path / "other.pt"))
    with pytest.raises(WeightsError, match="checkpoint not found"):
        model_store.load_weights(str(tmp_path / "nope.pt"))
