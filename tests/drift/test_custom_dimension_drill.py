"""The regional drill (issue #21): a regression confined to one accent inside one region, too
small to show in the fleet's or the region's WER, is found by drift in the `accent` slice, and
nothing else fires. `accent` is a configured dimension (`dimensions: [accent]`): without it the
scan has no slice to find it in, which the same fleet scanned by the fixed slices shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from asrwatch.settings import Settings
from collector.store import configure_dimensions, migrate, score_and_store_samples, store_sessions
from collector.store.database import make_engine
from collector.store.schemas import SampleIn, SessionIn
from drift.config import DriftConfig, Windows
from drift.features import SLICE_DIMENSIONS
from drift.service import scan_database
from drift.source import load_pins, load_sessions, load_sessions_per_column

AT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
WORDS = [f"w{i}" for i in range(40)]
SENTENCE = 12  # words per utterance
# (region, accent) -> sessions in the current window; the reference window holds twice as many.
# Scottish speakers are a small share of eu (8%), and there are Scottish speakers in us too.
CELLS = {("eu", "general"): 500, ("eu", "welsh"): 300, ("eu", "irish"): 300, ("eu", "scottish"): 100,
         ("us", "general"): 600, ("us", "southern"): 300, ("us", "scottish"): 100,
         ("us", None): 40}  # senders that leave the accent unset: `unknown`
DRILLED = ("eu", "scottish")
BASE_ERROR, DRILLED_ERROR = 0.08, 0.18  # per-word substitution rate: WER 8% -> 18% in the drilled cell
SETTINGS = {"dimensions": ["accent"],
            "drift": {"max_hypotheses": 480, "bootstrap_rounds": 50, "label_free_rounds": 10}}
FLAGGED = ("ticket", "page")


def _utterance(rng: np.random.Generator, error_rate: float) -> tuple[str, str]:
    """A reference and a hypothesis with Binomial(SENTENCE, error_rate) substituted words."""
    reference = list(rng.choice(WORDS, SENTENCE))
    hypothesis = list(reference)
    for i in np.flatnonzero(rng.random(SENTENCE) < error_rate):
        hypothesis[i] = WORDS[(WORDS.index(reference[i]) + 1 + int(rng.integers(len(WORDS) - 1))) % len(WORDS)]
    return " ".join(reference), " ".join(hypothesis)


def _fleet(url: str):
    """Every session labelled; only the drilled cell's current window changes: lower confidence,
    lower SNR and more substitutions."""
    engine = make_engine(url)
    migrate(engine)
    configure_dimensions(engine, ["accent"])
    rng = np.random.default_rng(21)
    received = datetime.now(timezone.utc)
    sessions, samples = [], []
    for (region, accent), n_current in CELLS.items():
        for current, n in ((True, n_current), (False, 2 * n_current)):
            drilled = current and (region, accent) == DRILLED
            for _ in range(n):
                sid = f"{region}-{accent or 'unset'}-{len(sessions):05d}"
                ago = rng.uniform(0, 24) if current else rng.uniform(24, 24 * 8)
                reference, hypothesis = _utterance(rng, DRILLED_ERROR if drilled else BASE_ERROR)
                sessions.append(SessionIn.model_validate({
                    "session_id": sid, "ts": AT - timedelta(hours=float(ago)), "model_version": "m1",
                    "region": region, "tenant": "acme", "channel": "web", "language": "en", "status": "ok",
                    "audio_seconds": float(rng.uniform(3, 6)), "first_partial_ms": float(rng.normal(250, 30)),
                    "final_latency_ms": float(rng.lognormal(6, 0.3)), "partial_rewrites": int(rng.integers(3)),
                    "confidence": float(np.clip(rng.normal(0.83 if drilled else 0.88, 0.05), 0, 1)),
                    "snr_db": float(rng.normal(18.5 if drilled else 22, 4)), "hypothesis": hypothesis,
                    "attributes": {"accent": accent} if accent else None}))
                samples.append(SampleIn.model_validate({"session_id": sid, "reference": reference,
                                                        "hypothesis": hypothesis}))
    store_sessions(engine, sessions, received)
    for start in range(0, len(samples), 2000):
        chunk = samples[start:start + 2000]
        _, rejected = score_and_store_samples(engine, list(enumerate(chunk)), "none", received)
        assert not rejected, rejected[:3]
    return engine


def _wer_findings(report, slice_: dict) -> list:
    return [f for f in report.findings if f.kind == "wer" and f.slice == slice_]


@pytest.fixture
def fleet(database_url):
    engine = _fleet(database_url)
    yield engine
    engine.dispose()


def test_accent_regression_inside_one_region_is_found_in_the_accent_slice(fleet):
    config = DriftConfig.from_settings(Settings(**SETTINGS))
    assert config.dimensions == (*SLICE_DIMENSIONS, "accent")  # configured dimensions join the default slices
    report = scan_database(fleet, config, AT)

    flagged = [f for f in report.findings if f.severity in FLAGGED]
    assert flagged, [f.summary for f in report.findings]
    # Every ticket is on a slice of Scottish speakers, and those with a region are eu's.
    assert all(f.slice.get("accent") == "scottish" and f.slice.get("region", "eu") == "eu" for f in flagged), \
        [f.summary for f in flagged]
    scottish = {("region", "eu"), ("accent", "scottish")}
    carriers = [f for f in flagged if set(f.slice.items()) <= scottish and "accent" in f.slice]
    assert {f.feature for f in carriers} >= {"wer", "confidence", "snr_db"}, [f.summary for f in flagged]

    # The regression is invisible in the fleet's and eu's WER: no WER test there crossed even
    # the info threshold (an explained one would be listed as info), while the accent slice's did.
    assert _wer_findings(report, {}) == [] and _wer_findings(report, {"region": "eu"}) == []
    assert any(f.severity in FLAGGED for f in _wer_findings(report, {"accent": "scottish"})
               + _wer_findings(report, {"region": "eu", "accent": "scottish"}))
    assert not any(f.slice.get("accent") in {"general", "welsh", "irish", "southern"} and f.severity != "info"
                   for f in report.findings)

    # The fast reader (labels joined in SQL) reads the slot as the per-column one does, NULL as unknown.
    windows, pins = Windows.ending_at(AT, config), load_pins(fleet)
    fast = load_sessions(fleet, windows, pins, config.dimensions)
    slow = load_sessions_per_column(fleet, windows, pins, config.dimensions)
    assert fast["accent"].levels == slow["accent"].levels and "unknown" in fast["accent"].levels
    assert np.array_equal(fast["accent"].codes, slow["accent"].codes)
    assert "accent" not in load_sessions(fleet, windows, pins)  # read only when sliced by

    # Without the configured dimension the same fleet raises nothing: no slice isolates the accent.
    fixed = DriftConfig.from_settings(Settings(drift=SETTINGS["drift"]))
    assert "accent" not in fixed.dimensions
    blind = scan_database(fleet, fixed, AT)
    assert [f.summary for f in blind.findings if f.severity in FLAGGED] == []


def test_drift_dimensions_must_be_fixed_or_configured():
    with pytest.raises(ValueError, match=r"drift\.dimensions: .*unknown dimension\(s\) \['accent'\]"):
        DriftConfig.from_settings(Settings(drift={"dimensions": ["region", "accent"]}))
    explicit = DriftConfig.from_settings(Settings(dimensions=["accent", "mic_path"],
                                                  drift={"dimensions": ["accent", "pool"]}))
    assert explicit.dimensions == ("accent", "pool")  # set explicitly: taken as it is, not extended
    with pytest.raises(ValueError, match=r"drift\.dimensions: .*listed twice"):
        DriftConfig.from_settings(Settings(dimensions=["accent"], drift={"dimensions": ["accent", "accent"]}))
