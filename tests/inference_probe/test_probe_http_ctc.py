"""The black-box `http` backend against `probe-serve`, and the `ctc` backend on a tiny
randomly initialized Wav2Vec2ForCTC saved to a local directory."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from prerequisites import need_module

torch = need_module("torch")
need_module("whisper")
sf = need_module("soundfile")

from live_collector import free_port  # noqa: E402

from inference_probe.audio_io import encode_wav, read_audio  # noqa: E402
from inference_probe.ctc_decode import ctc_greedy  # noqa: E402
from inference_probe.run import run_probe  # noqa: E402
from inference_probe.timing import StageTimer  # noqa: E402

def test_http_probe_matches_the_in_process_model(probe_serve, whisper_backend, golden):
    run = run_probe(collector_url=None, backend="http", endpoint=probe_serve.url, endpoint_token=probe_serve.token,
                    limit=1, slices="clean", show_progress=False)
    direct = whisper_backend.transcribe_batch([read_audio(golden[0].audio_path)[0]], StageTimer())[0]
    (row,) = run.rows
    assert row["utt_id"] == golden[0].utt_id and row["status"] == "ok"
    assert row["hypothesis"] == direct.text and row["confidence"] == pytest.approx(direct.confidence, rel=1e-3)
    # Whisper's per-utterance figures travel through verbose_json's segment fields.
    assert row["avg_logprob"] == pytest.approx(direct.avg_logprob, abs=1e-3)
    assert row["compression_ratio"] == pytest.approx(direct.compression_ratio, abs=1e-6)
    assert row["no_speech_prob"] == pytest.approx(direct.no_speech_prob, abs=1e-3)
    assert run.model_version == whisper_backend.model_version  # learned from the x-model-version header
    assert run.repro["backend"]["backend"] == "http" and run.totals["batch_size"] == 1


def test_http_probe_reports_failures_as_session_statuses(probe_serve):
    wrong = run_probe(collector_url=None, backend="http", endpoint=probe_serve.url, endpoint_token="wrong",
                      limit=1, slices="clean", show_progress=False)
    assert [r["status"] for r in wrong.rows] == ["decode_error"]
    gone = run_probe(collector_url=None, backend="http", endpoint=f"http://127.0.0.1:{free_port()}",
                     limit=1, slices="clean", show_progress=False)
    assert [r["status"] for r in gone.rows] == ["dropped"]
    assert gone.summaries[0].failed == 1


def test_probe_serve_speaks_the_openai_transcriptions_api(probe_serve, golden):
    audio = read_audio(golden[0].audio_path)[0]
    from scipy.signal import resample_poly

    narrow = resample_poly(audio, 1, 2)  # 8 kHz upload: the server resamples
    headers = {"Authorization": f"Bearer {probe_serve.token}"}
    with httpx.Client(base_url=probe_serve.url, headers=headers, timeout=120) as http:
        text = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", encode_wav(narrow, 8000), "audio/wav")},
                         data={"model": "whisper-1", "response_format": "text"})
        assert text.status_code == 200 and "timer" in text.text.lower()
        bad = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"garbage", "audio/wav")})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "file"
        fmt = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", encode_wav(audio), "audio/wav")},
                        data={"response_format": "srt"})
        assert fmt.status_code == 400 and fmt.json()["error"]["param"] == "response_format"
        assert http.get("/v1/models").json()["data"][0]["id"].startswith("whisper-tiny.en@")


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    frames = [0, 3, 3, 0, 3, 4, 4, 0, 1, 5, 0]
    logprobs = np.log(np.full((len(frames), 6), 0.02))
    for i, tok in enumerate(frames):
        logprobs[i, tok] = np.log(0.9)
    path = ctc_greedy(logprobs, blank_id=0)
    assert path.ids == [3, 3, 4, 1, 5]
    assert path.logprobs == pytest.approx([np.log(0.9)] * 5)
    assert ctc_greedy(np.log(np.full((4, 3), 1 / 3)) + np.array([0.1, 0, 0]), 0).ids == []


def test_ctc_backend_loads_local_model_and_decodes_batches(tiny_ctc_dir, golden):
    from inference_probe.backends.ctc_backend import CtcBackend

    backend = CtcBackend(tiny_ctc_dir, device="cpu")
    assert backend.model_version.startswith(f"ctc-{tiny_ctc_dir.name}@")
    clips = [read_audio(u.audio_path)[0] for u in golden[:2]]
    assert len(clips[0]) != len(clips[1])
    batched = backend.transcribe_batch(clips, StageTimer())
    alone = [backend.transcribe_batch([c], StageTimer())[0] for c in clips]
    assert [b.text for b in batched] == [a.text for a in alone]  # padding is masked out
    for res in batched:
        assert set(res.text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ ")
        assert len(res.token_probs) == len(res.tokens) and all(0 < p <= 1 for p in res.token_probs)
        assert 0 <= res.confidence <= 1
    assert CtcBackend(tiny_ctc_dir).weights_sha256 == backend.weights_sha256


def test_ctc_backend_in_a_probe_run_and_missing_dir(tiny_ctc_dir, tmp_path):
    run = run_probe(collector_url=None, backend="ctc", model=str(tiny_ctc_dir), device="cpu", limit=1,
                    slices="clean,telephony", show_progress=False)
    assert {r["slice"] for r in run.rows} == {"clean", "telephony"}
    assert run.repro["backend"]["decoding"]["method"] == "ctc_greedy"
    with pytest.raises(FileNotFoundError, match="no Wav2Vec2ForCTC model"):
        run_probe(collector_url=None, backend="ctc", model=str(tmp_path), limit=1, show_progress=False)
