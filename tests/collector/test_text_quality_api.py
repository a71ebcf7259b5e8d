"""CER by language and entity recall through the API (#20 parts 2 and 4), against a live
collector on SQLite and PostgreSQL: per-sample scores, `/api/v1/wer` rows, `/metrics` counters.
Expected values come from jiwer on Whisper-normalized text, computed here."""

import uuid

import jiwer
import pytest
from live_collector import running_collector
from postgres import create_database, drop_database

from collector.measures.wer import normalizer

DAY = ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
ENTITIES = {"retail": ["Acme Cloud", "Zephyr Max"], "pharmacy": ["ibuprofen"]}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"text-quality-{request.param}")
    url = None if request.param == "sqlite" else create_database()
    try:
        with running_collector(tmp, config={"entities": ENTITIES}, database_url=url) as collector:
            yield collector
    finally:
        if url:
            drop_database(url)


def _session(uid, i, language, hypothesis, **fields):
    return {"session_id": f"{uid}-{i}", "ts": f"2026-11-01T10:{i:02d}:00Z", "model_version": f"mv-{uid}",
            "status": "ok", "language": language, "hypothesis": hypothesis, **fields}


# (language, reference, hypothesis, session attributes, sample entities)
CASES = [
    ("en", "Is the Acme Cloud plan cheaper than Zephyr Max?", "is the acne cloud plan cheaper than zephyr max",
     {"domain": "retail"}, None),
    ("en", "Take two ibuprofen, Mr. Jones.", "take two ibuprofen mister jones", {"domain": "pharmacy"},
     ["Mr. Jones"]),
    ("zh", "我想买华为手机，谢谢！", "我想买花为手机谢谢", None, ["华为"]),
    ("zh", "今天天气很好。", "今天天气很好", None, None),
    ("es", "¿Dónde está la estación?", "donde esta la estacion", {"domain": "unknown-domain"}, None),
]


def _expected(language, reference, hypothesis):
    norm = normalizer("whisper_en" if language == "en" else "basic")
    ref, hyp = norm(reference).split(), norm(hypothesis).split()
    join = "" if language == "zh" else " "
    return jiwer.cer(join.join(ref), join.join(hyp)), len(join.join(ref)), jiwer.wer(" ".join(ref), " ".join(hyp))


def test_samples_score_cer_and_entities_and_the_wer_rows_sum_them(live):
    uid = uuid.uuid4().hex[:10]
    sessions = [_session(uid, i, lang, hyp, **({"attributes": attrs} if attrs else {}))
                for i, (lang, _, hyp, attrs, _) in enumerate(CASES)]
    samples = [{"session_id": f"{uid}-{i}", "reference": ref, **({"entities": ents} if ents else {})}
               for i, (_, ref, _, _, ents) in enumerate(CASES)]
    with live.client("ingest") as http:
        assert http.post("/api/v1/sessions", json=sessions).json()["accepted"] == len(CASES)
        scored = http.post("/api/v1/samples", json=samples).json()
    assert scored["rejected"] == []
    results = scored["results"]
    for got, (language, reference, hypothesis, _, _) in zip(results, CASES):
        cer, ref_chars, wer = _expected(language, reference, hypothesis)
        assert got["cer"] == pytest.approx(cer) and got["ref_chars"] == ref_chars
        assert got["wer"] == pytest.approx(wer)
    # Entities: "acme cloud" missed, "zephyr max" found; "ibuprofen" and the sample's "mister jones"
    # found; "华为" missed; none in the others (no list for their domain, or none sent).
    assert [(r["entity_occurrences"], r["entities_found"]) for r in results] == [(2, 1), (2, 2), (1, 0), (0, 0), (0, 0)]

    with live.client("read") as http:
        rows = {r["language"]: r for r in http.get("/api/v1/wer", params={
            "since": DAY[0], "until": DAY[1], "group_by": "language", "model_version": f"mv-{uid}"}).json()}
    for language in ("en", "zh"):
        mine = [(r, c) for r, c in zip(results, CASES) if c[0] == language]
        errors = sum(round(r["cer"] * r["ref_chars"]) for r, _ in mine)
        chars = sum(r["ref_chars"] for r, _ in mine)
        assert rows[language]["cer"] == pytest.approx(errors / chars)
        assert rows[language]["ref_chars"] == chars
        assert rows[language]["cer_ci_low"] <= rows[language]["cer"] <= rows[language]["cer_ci_high"]
    assert rows["en"]["entity_occurrences"] == 4 and rows["en"]["entity_recall"] == pytest.approx(3 / 4)
    assert rows["zh"]["entity_occurrences"] == 1 and rows["zh"]["entity_recall"] == 0.0
    assert rows["es"]["entity_occurrences"] == 0 and rows["es"]["entity_recall"] is None

    with live.client("read") as http:
        listed = {r["session_id"]: r for r in http.get("/api/v1/samples", params={
            "since": DAY[0], "until": DAY[1], "model_version": f"mv-{uid}"}).json()}
        metrics = http.get("/metrics").text
    for i, got in enumerate(results):  # the listing carries the stored counts, never the text
        row = listed[f"{uid}-{i}"]
        assert (row["ref_chars"], row["entity_occurrences"], row["entities_found"]) == (
            got["ref_chars"], got["entity_occurrences"], got["entities_found"])
        assert "reference" not in row
    found = [line for line in metrics.splitlines()
             if line.startswith("asrwatch_entities_found_total{") and f"mv-{uid}" in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in found) == 3.0


def test_sample_entities_are_checked_by_field(live):
    uid = uuid.uuid4().hex[:10]
    with live.client("ingest") as http:
        http.post("/api/v1/sessions", json=[_session(uid, 0, "en", "hello")])
        body = http.post("/api/v1/samples", json=[
            {"session_id": f"{uid}-0", "reference": "hello", "entities": "acme"},
            {"session_id": f"{uid}-0", "reference": "hello", "entities": [""]},
        ]).json()
    errors = [r["error"] for r in body["rejected"]]
    assert len(errors) == 2 and all(e.startswith("entities") for e in errors), errors
