"""Hallucinations on the console: the model-owner page's per-version flags and insertion rate, and
the debug page's warning for a flagged session, against the seeded live collector's API."""

from __future__ import annotations

from console_pages import seeded_page, table, window

from dashboards import hallucination_frames as hf


def test_frames():
    rows = [{"model_version": "a", "hallucination_checked": 10, "hallucination_flagged": 2, "hallucination_rate": 0.2},
            {"model_version": "b", "hallucination_checked": 0, "hallucination_flagged": 0, "hallucination_rate": None}]
    frame = hf.by_version_frame(rows)
    assert list(frame["model_version"]) == ["a"] and list(frame.columns) == hf.COLUMNS
    assert [hf.reasons_label(m) for m in (None, 0, 1, 6)] == ["", "none", "compression_ratio",
                                                               "ngram_loop, no_speech"]
    note = hf.session_note({"hallucination": 6, "attributes": {"no_speech_prob": 0.87, "avg_logprob": -1.25}})
    assert note == ("Flagged as hallucinated: repeated n-gram loop; text on non-speech audio "
                    "(no_speech_prob 0.87, avg_logprob -1.25)")
    assert hf.session_note({"hallucination": 0}) is None and hf.session_note({"hallucination": None}) is None


def test_model_owner_and_debug_pages_show_the_apis_flags(seeded, api_get):
    session_id = seeded.hallucinated_session
    w = window(seeded)

    at = seeded_page(seeded, "model_owner")
    status = [r for r in api_get("/api/v1/status", group_by="model_version", **w) if r["hallucination_checked"]]
    shown = table(at, "hallucination_flagged")
    assert list(zip(shown["model_version"], shown["hallucination_checked"], shown["hallucination_flagged"])) == \
        [(r["model_version"], r["hallucination_checked"], r["hallucination_flagged"]) for r in status]
    assert dict(zip(shown["model_version"], shown["hallucination_rate"]))["console-hallucinating"] == 1.0
    wer = table(at, "insertion_rate")
    assert list(wer["insertion_rate"]) == [r["insertion_rate"] for r in api_get("/api/v1/wer", group_by="model_version",
                                                                                  **w)]

    at = seeded_page(seeded, "debug", session_id=session_id)
    session = api_get(f"/api/v1/sessions/{session_id}")
    assert session["hallucination_reasons"] == ["compression_ratio", "ngram_loop", "no_speech"]
    assert hf.session_note(session) in [x.value for x in at.warning]
    recent = table(at, "hallucination")
    api_recent = api_get("/api/v1/sessions", limit=50, **w)
    assert list(recent["hallucination"]) == [hf.reasons_label(s.get("hallucination")) for s in api_recent]
    assert "compression_ratio, ngram_loop, no_speech" in list(recent["hallucination"])
