"""The Whisper backend and a full probe run against a live collector (one run, many checks)."""

from __future__ import annotations

import math

import pytest
from prerequisites import need_module

torch = need_module("torch")
need_module("whisper")

from live_collector import free_port, running_collector  # noqa: E402

from inference_probe.audio_io import read_audio  # noqa: E402
from inference_probe.errors import ProbeError  # noqa: E402
from inference_probe.posting import ProbePoster  # noqa: E402
from inference_probe.features import encoder_frames, log_mel, pad_batch  # noqa: E402
from inference_probe.run import run_probe  # noqa: E402
from inference_probe.timing import StageTimer  # noqa: E402

N_CLIPS = 3


@pytest.fixture(scope="module")
def live_run(tmp_path_factory, whisper_backend, tiny_ctc_dir):
    """First a run while the collector is down (spooled), then the collector comes up on
    that port and a run of 3 golden clips x (clean, noise_0db) replays the spool and posts."""
    tmp = tmp_path_factory.mktemp("probe_run")
    port = free_port()
    spool = tmp / "spool"
    down = run_probe(collector_url=f"http://127.0.0.1:{port}", token="not-yet", limit=1, slices="clean",
                     backend=whisper_backend, spool_dir=spool, show_progress=False, otlp_timeout_s=1)
    spooled = {"sessions": len(list((spool / "collector").glob("*-sessions.ndjson"))),
               "samples": len(list((spool / "collector").glob("*-samples.ndjson"))),
               "traces": len(list((spool / "traces").glob("*-traces.pb")))}
    with running_collector(tmp / "collector", port=port) as collector:
        result = run_probe(collector_url=collector.url, token=collector.tokens["ingest"], limit=N_CLIPS,
                           slices="clean,noise_0db", backend=whisper_backend, spool_dir=spool,
                           show_progress=False, summary_path=tmp / "summary.json")
        # A run that loads its own backend: its first session carries the `load` stage.
        cold = run_probe(collector_url=collector.url, token=collector.tokens["ingest"], limit=1, slices="clean",
                         backend="ctc", model=str(tiny_ctc_dir), device="cpu", spool_dir=None,
                         show_progress=False)
        with collector.client("read") as http:
            sessions = http.get("/api/v1/sessions", params={"tenant": "probe", "limit": 50}).json()
            details = {s["session_id"]: http.get(f"/api/v1/sessions/{s['session_id']}").json() for s in sessions}
            wer_rows = http.get("/api/v1/wer", params={"group_by": "model_version,channel"}).json()
        with pytest.raises(ProbeError) as refused:  # a read token cannot ingest
            ProbePoster(collector.url, collector.tokens["read"], None).finish(
                [{"session_id": "x", "ts": sessions[0]["ts"], "model_version": "m", "status": "ok"}], [])
    ours = [s for s in sessions if s["session_id"].startswith(f"probe-{result.run_id}-")]
    yield {"result": result, "sessions": ours, "details": details, "wer_rows": wer_rows, "tmp": tmp,
           "down": down, "spooled": spooled, "spool": spool, "refused": str(refused.value),
           "cold": cold}


def test_clean_wer_is_low_and_0db_noise_is_worse(live_run):
    result = live_run["result"]
    by_slice = {s.slice: s for s in result.summaries}
    assert by_slice["clean"].utterances == N_CLIPS and by_slice["noise_0db"].utterances == N_CLIPS
    assert by_slice["clean"].wer <= 0.15
    assert by_slice["noise_0db"].wer >= by_slice["clean"].wer + 0.3
    assert by_slice["noise_0db"].mean_confidence < by_slice["clean"].mean_confidence
    assert "clean" in result.table() and "noise_0db" in result.table()


def test_collector_scores_the_same_wer_per_slice(live_run):
    result, wer_rows = live_run["result"], live_run["wer_rows"]
    ours = {s.slice: (s.errors, s.ref_words) for s in result.summaries}
    ours["clean"] = (ours["clean"][0] + live_run["down"].rows[0]["errors"],
                     ours["clean"][1] + live_run["down"].rows[0]["ref_words"])  # the replayed run's clip
    theirs = {row["channel"]: (row["substitutions"] + row["deletions"] + row["insertions"], row["ref_words"])
              for row in wer_rows if row["model_version"] == result.model_version}
    assert theirs == ours


def test_sessions_carry_slice_model_and_token_probabilities(live_run):
    result, sessions, details = live_run["result"], live_run["sessions"], live_run["details"]
    assert len(sessions) == 2 * N_CLIPS
    for s in sessions:
        assert s["tenant"] == "probe" and s["channel"] in ("clean", "noise_0db")
        assert s["model_version"] == result.model_version and s["model_version"].startswith("whisper-tiny.en@")
        assert s["status"] == "ok" and s["audio_seconds"] > 1 and s["final_latency_ms"] > 0
        attrs = s["attributes"]
        probs = attrs["token_probs"]
        assert len(probs) == len(attrs["tokens"]) == attrs["n_tokens"] > 0
        assert all(0 < p <= 1 for p in probs)
        # confidence = exp(mean log-prob) over the tokens and the end token (whisper's avg_logprob)
        logs = [math.log(p) for p in probs + [attrs["eot_prob"]]]
        assert s["confidence"] == pytest.approx(math.exp(sum(logs) / len(logs)), abs=1e-3)
        assert 0 <= attrs["no_speech_prob"] <= 1
        if s["channel"] == "noise_0db":
            assert attrs["mixing_snr_db"] == 0.0 and attrs["noise"] in ("white", "babble")
        else:
            assert "mixing_snr_db" not in attrs
        assert attrs["weights_sha256"] == result.repro["weights_sha256"]
        assert attrs["packages"]["torch"].startswith("2.13")
        detail = details[s["session_id"]]
        assert detail["samples"][0]["source"] == "probe"
        assert detail["samples"][0]["reference"] and detail["hypothesis"] == detail["samples"][0]["hypothesis"]
        assert attrs["snr_est_method"] == "wada" and attrs["snr_band_hz"][1] > 6000  # wideband slices
    clean_snr = [s["snr_db"] for s in sessions if s["channel"] == "clean"]
    noisy_snr = [s["snr_db"] for s in sessions if s["channel"] == "noise_0db"]
    assert min(clean_snr) > max(noisy_snr)


def test_spans_become_stages_of_each_session(live_run):
    sessions, details = live_run["sessions"], live_run["details"]
    cold = 0
    for s in sessions:
        stages = details[s["session_id"]]["stages"]
        names = {st["name"] for st in stages}
        assert {"asr.session", "preprocess", "features", "inference", "decode"} <= names
        root = next(st for st in stages if st["name"] == "asr.session")
        children = [st for st in stages if st["parent_span_id"] == root["span_id"]]
        assert {c["name"] for c in children} >= {"preprocess", "features", "inference", "decode"}
        # The children are the batch's stages; the batch clock (audio arrays to text) covers
        # the backend's, and each session's final latency is its even share of that clock.
        attrs = s["attributes"]
        backend_ms = sum(c["duration_ms"] for c in children if c["name"] not in ("load", "preprocess"))
        assert backend_ms == pytest.approx(attrs["batch_transcription_s"] * 1000, rel=0.02)
        assert s["final_latency_ms"] == pytest.approx(attrs["batch_transcription_s"] * 1000 / attrs["batch_size"],
                                                      rel=1e-4)
        root_ms = root["duration_ms"]
        assert root_ms >= backend_ms * 0.99 and s["final_latency_ms"] < root_ms
        cold += "load" in names
    assert cold == 0  # the backend was loaded before the run: no session paid for it


def test_each_batch_is_one_slice_and_its_sessions_share_its_time(live_run):
    result, sessions = live_run["result"], live_run["sessions"]
    batches: dict[tuple, list[dict]] = {}
    for s in sessions:
        batches.setdefault((s["ts"], s["attributes"]["batch_transcription_s"]), []).append(s)
    for members in batches.values():
        assert len({m["channel"] for m in members}) == 1 and len(members) == members[0]["attributes"]["batch_size"]
        assert sum(m["final_latency_ms"] for m in members) == pytest.approx(
            members[0]["attributes"]["batch_transcription_s"] * 1000, rel=1e-4)
    for summary in result.summaries:
        mine = [s for s in sessions if s["channel"] == summary.slice]
        assert summary.rtfx == pytest.approx(sum(s["audio_seconds"] for s in mine)
                                             / sum(s["final_latency_ms"] / 1000 for s in mine), rel=1e-3)
    assert result.totals["warmup_batches"] == 1 and result.totals["warmup_seconds"] > 0


def test_slice_batches_transcribe_as_the_mixed_batches_did(live_run, whisper_backend, golden):
    """Differential: before, one batch mixed the slices (here all six clips of the run);
    now each slice has its own batch. Transcripts must not move."""
    from inference_probe.augment import make_slice

    audios = [read_audio(u.audio_path)[0] for u in golden[:N_CLIPS]]
    items = [(i, name) for i in range(N_CLIPS) for name in ("clean", "noise_0db")]
    mixed = whisper_backend.transcribe_batch(
        [make_slice(audios[i], name, golden[i].utt_id, 0,
                    [a for j, a in enumerate(audios) if j != i] if name.startswith("noise") else None).audio
         for i, name in items], StageTimer())
    now = {(r["utt_id"], r["slice"]): r for r in live_run["result"].rows}
    for (i, name), before in zip(items, mixed):
        row = now[(golden[i].utt_id, name)]
        assert row["hypothesis"] == before.text
        assert row["confidence"] == pytest.approx(before.confidence, abs=1e-5)


def test_run_records_what_makes_it_reproducible(live_run):
    import json

    result, tmp = live_run["result"], live_run["tmp"]
    repro = result.repro
    assert len(repro["manifest_sha256"]) == 64 and len(repro["weights_sha256"]) == 64
    assert repro["augmentation_seed"] == 0 and repro["slices"] == ["clean", "noise_0db"]
    assert repro["decoding"]["temperature"] == 0.0 and repro["decoding"]["encoder_context"] == "trim"
    assert {"torch", "openai-whisper", "numpy", "python"} <= set(repro["packages"])
    summary = json.loads((tmp / "summary.json").read_text())
    assert summary["repro"]["manifest_sha256"] == repro["manifest_sha256"]
    assert summary["totals"]["rtfx"] > 0 and summary["totals"]["audio_seconds"] > 0
    assert {row["slice"] for row in summary["slices"]} == {"clean", "noise_0db"}
    assert all("reference" not in u and "hypothesis" not in u for u in summary["utterances"])


def test_results_spooled_while_down_are_replayed_by_the_next_run(live_run):
    down, result = live_run["down"], live_run["result"]
    assert down.posting["reachable"] is False
    assert down.posting["sessions"]["spooled"] == 1 and down.posting["samples"]["spooled"] == 1
    assert down.posting["spans_spooled"] == 5  # root + preprocess, features, inference, decode
    assert live_run["spooled"] == {"sessions": 1, "samples": 1, "traces": 1}
    assert result.posting["replayed_records"] == 2 and result.posting["replayed_span_batches"] == 1
    assert not list(live_run["spool"].rglob("*.ndjson")) and not list(live_run["spool"].rglob("*.pb"))
    replayed = live_run["details"][down.rows[0]["session_id"]]
    assert replayed["channel"] == "clean" and replayed["hypothesis"] == down.rows[0]["hypothesis"]
    assert [s["source"] for s in replayed["samples"]] == ["probe"]
    assert replayed["samples"][0]["wer"] == pytest.approx(down.rows[0]["errors"] / down.rows[0]["ref_words"])
    assert {"asr.session", "inference", "decode"} <= {s["name"] for s in replayed["stages"]}


def test_a_run_that_loads_its_model_reports_the_load_stage(live_run):
    cold = live_run["cold"]
    (row,) = cold.rows
    stages = live_run["details"][row["session_id"]]["stages"]
    root = next(st for st in stages if st["name"] == "asr.session")
    load = next(st for st in stages if st["name"] == "load")
    assert load["parent_span_id"] == root["span_id"] and load["start"] == root["start"]
    assert cold.totals["load_seconds"] > 0 and cold.model_version.startswith("ctc-")


def test_a_token_without_ingest_scope_is_a_clear_error(live_run):
    assert "refused the token: pass an ingest-scope --token" in live_run["refused"]


def test_unreachable_collector_without_spool_is_a_clear_error(whisper_backend):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProbeError, match=rf"collector unreachable at {url} .*--spool-dir"):
        run_probe(url, limit=1, slices="clean", backend=whisper_backend, spool_dir=None,  # as the demo calls it
                  show_progress=False)


def test_batched_features_equal_whisper_reference(golden):
    import whisper

    clips = [read_audio(u.audio_path)[0] for u in golden[:3]]
    batched = log_mel(pad_batch(clips, 3000))
    for i, clip in enumerate(clips):
        ref = whisper.pad_or_trim(whisper.log_mel_spectrogram(torch.from_numpy(clip), padding=480_000), 3000)
        assert torch.allclose(batched[i], ref, atol=1e-5)


def test_batch_padding_does_not_change_transcripts(live_run, whisper_backend, golden):
    """The live run decoded g0000 clean inside a batch of six; alone it must read the same."""
    batched = next(r for r in live_run["result"].rows if r["utt_id"] == golden[0].utt_id and r["slice"] == "clean")
    alone = whisper_backend.transcribe_batch([read_audio(golden[0].audio_path)[0]], StageTimer())[0]
    assert batched["hypothesis"] == alone.text
    assert batched["confidence"] == pytest.approx(alone.confidence, abs=2e-3)


def test_encoder_window_policy():
    assert encoder_frames(16_000 * 4, "full") == 3000
    assert encoder_frames(16_000 * 4, "trim") == 1000  # never under 10 s
    assert encoder_frames(16_000 * 12, "trim") == 1400  # 12 s + margin, in 2 s steps
    assert encoder_frames(16_000 * 40, "trim") == 3000  # capped at Whisper's window
    with pytest.raises(ValueError, match="encoder_context must be 'full' or 'trim'"):
        encoder_frames(16_000, "half")


def test_cli_report_says_what_was_posted_and_what_was_spooled(live_run):
    from inference_probe.summary import format_report

    up = format_report(live_run["result"])
    assert f"sessions accepted {2 * N_CLIPS}, duplicates 0, rejected 0; samples scored {2 * N_CLIPS}" in up
    assert "spooled" not in up
    down = format_report(live_run["down"])
    assert "collector unreachable: spooled 1 sessions, 1 samples, 5 spans to" in down
