"""The console says when a view reads a sample of the sessions (#23 item 2): with `store:
{sessions: sample}` the debug page's session list and the model owner's drift view carry a caption
with the share and the sessions read of those counted; a collector that stores every session
shows none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from console_pages import open_page
from live_collector import running_collector

from collector.store import sampled_in
from dashboards import sample_captions
from dashboards import transforms as tf

END = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=5)
AS_OF = END.isoformat().replace("+00:00", "Z")
RATE = 0.2
CURRENT, REFERENCE = 60, 80  # sessions in the last 24 h, and 2-3 days before


def _sessions() -> list[dict]:
    out = []
    for i in range(CURRENT + REFERENCE):
        ago = timedelta(minutes=90 - i) if i < CURRENT else timedelta(days=2, minutes=10 * i)
        out.append({"session_id": f"p-{i}", "ts": (END - ago).isoformat(), "model_version": "m1", "region": "eu",
                    "channel": "web", "tenant": "acme", "language": "en-GB", "pool": "a100",
                    "status": "timeout" if i % 10 == 0 else "ok", "audio_seconds": 4.0,
                    "final_latency_ms": 300.0 + i, "confidence": 0.8, "snr_db": 20.0,
                    "hypothesis": "turn on the lights"})
    return out


@pytest.fixture(scope="module", params=["sample", "all"])
def live(request, tmp_path_factory):
    store = {"sessions": "sample", "sample_rate": RATE} if request.param == "sample" else {}
    with running_collector(tmp_path_factory.mktemp(f"console-storage-{request.param}"),
                           config={"store": store, "evaluator_interval_s": 3600}) as live:
        with live.client("ingest") as http:
            assert http.post("/api/v1/sessions", json=_sessions()).json()["accepted"] == CURRENT + REFERENCE
        live.extra["sampling"] = request.param == "sample"
        yield live


def _stored(live, since: datetime, until: datetime) -> int:
    with live.client("read") as http:
        return len(http.get("/api/v1/sessions", params={"since": since.isoformat(), "until": until.isoformat(),
                                                        "limit": 1000}).json())


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_the_session_list_says_it_is_a_sample(live):
    at = open_page(live.url, live.tokens["read"], "debug", as_of=AS_OF)
    notes = [c for c in _captions(at) if c.startswith("Stored sessions are")]
    if not live.extra["sampling"]:
        assert notes == []
        return
    assert notes == [f"Stored sessions are a 20% sample (plus failures, labeled, canary, probe): this list shows "
                     f"stored sessions only, of {tf.fmt_int(CURRENT)} sessions counted in this window."]
    assert _stored(live, END - timedelta(hours=24), END) < CURRENT  # the list is a sample indeed


def test_the_drift_view_says_how_many_sessions_the_scan_read(live):
    at = open_page(live.url, live.tokens["read"], "model_owner", as_of=AS_OF)
    notes = [c for c in _captions(at) if c.startswith("Stored sessions are")]
    if not live.extra["sampling"]:
        assert notes == []
        return
    current_start = END - timedelta(hours=24)
    ref, cur = _stored(live, current_start - timedelta(days=7), current_start), _stored(live, current_start, END)
    assert 0 < cur < CURRENT and 0 < ref < REFERENCE
    # The scan keeps to the share drawn by id: the failures stored beside it are left out.
    ref_share = sum(sampled_in(f"p-{i}", RATE) for i in range(CURRENT, CURRENT + REFERENCE))
    cur_share = sum(sampled_in(f"p-{i}", RATE) for i in range(CURRENT))
    assert 0 < cur_share < cur and 0 < ref_share < ref
    assert notes == [sample_captions.drift_caption({
        "sample_rate": RATE, "always": ["failures", "labeled", "canary", "probe"],
        "reference": {"stored": ref, "scanned": ref_share, "counted": REFERENCE},
        "current": {"stored": cur, "scanned": cur_share, "counted": CURRENT}})]
    assert (f"this scan reads the 20% drawn by session id, {ref_share + cur_share} of {CURRENT + REFERENCE} "
            f"sessions" in notes[0])
    assert f"the {ref + cur - ref_share - cur_share} other stored sessions" in notes[0]


def test_a_drift_report_stored_before_the_share_still_gets_its_caption():
    note = sample_captions.drift_caption({
        "sample_rate": RATE, "always": ["failures"],
        "reference": {"stored": 30, "counted": 100}, "current": {"stored": 12, "counted": 50}})
    assert note == ("Stored sessions are a 20% sample (plus failures): this scan reads 42 of 150 sessions "
                    "(reference 30 of 100, current 12 of 50).")


def test_a_drift_scan_that_left_nothing_out_says_only_what_it_read():
    note = sample_captions.drift_caption({
        "sample_rate": 0.1, "always": [],
        "reference": {"stored": 30, "scanned": 30, "counted": 300}, "current": {"stored": 12, "scanned": 12,
                                                                               "counted": 120}})
    assert note == ("Stored sessions are a 10% sample: this scan reads the 10% drawn by session id, 42 of 420 "
                    "sessions (reference 30 of 300, current 12 of 120).")
