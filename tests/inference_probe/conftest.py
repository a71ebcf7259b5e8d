"""Shared fixtures for the probe tests: the Whisper model is loaded once per test run,
and one `probe-serve` instance in a thread serves it for the black-box tests."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest
from prerequisites import need_module

SERVE_TOKEN = "serve-secret"


@pytest.fixture(scope="session")
def whisper_backend():
    need_module("torch")
    need_module("whisper")
    from inference_probe.backends.whisper_backend import WhisperBackend

    backend = WhisperBackend.load(device="cpu")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def golden():
    from inference_probe.manifest import load_manifest

    return load_manifest()


@pytest.fixture(scope="session")
def probe_serve(whisper_backend):
    import uvicorn
    from live_collector import free_port

    from inference_probe.serve import create_serve_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_serve_app(whisper_backend, token=SERVE_TOKEN),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", token=SERVE_TOKEN)
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def tiny_ctc_dir(tmp_path_factory):
    """A tiny randomly initialized Wav2Vec2ForCTC saved as a local model directory."""
    need_module("transformers")
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    path = tmp_path_factory.mktemp("tiny-ctc")
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{chr(ord("A") + i): 3 + i for i in range(26)}}
    (path / "vocab.json").write_text(json.dumps(vocab))
    Wav2Vec2CTCTokenizer(str(path / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                         word_delimiter_token="|").save_pretrained(path)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(path)
    config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, conv_dim=(32, 32, 32), conv_stride=(5, 4, 4),
                            conv_kernel=(10, 4, 4), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                            feat_extract_norm="layer", do_stable_layer_norm=True, pad_token_id=0)
    import torch

    torch.manual_seed(0)
    Wav2Vec2ForCTC(config).save_pretrained(path)
    return path
