"""Diarization scoring at sample ingest: what pyannote.metrics costs per sample, by segment count,
and sample ingest with and without segments, side by side in one run.

DER is computed by pyannote.metrics (`collector.measures.diarization`), whose cost grows about
with the square of a sample's segments; this is why a list holds at most 1000 segments
(`MAX_SEGMENTS`) and a request 4000 (`MAX_SEGMENTS_PER_REQUEST`). The ingest figures store the
same telephony samples into a fresh SQLite store twice, once without segments and once with, so
the ratio is the cost diarization adds.

    python bench/diarization.py [--samples 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.measures import diarization  # noqa: E402
from collector.store.database import make_engine, migrate  # noqa: E402
from collector.store.ingest import score_and_store_samples, store_sessions  # noqa: E402
from collector.store.schemas import SampleIn, SessionIn  # noqa: E402
from simulator.diarization import diarize  # noqa: E402

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)


def _call(rng: random.Random, turns: int) -> tuple[list, list]:
    made = diarize(rng, turns * 3.8, 0.05)  # turns last about 3.8 s with their gaps
    return ([(s["speaker"], s["start"], s["end"]) for s in made.reference],
            [(s["speaker"], s["start"], s["end"]) for s in made.hypothesis])


def per_sample(sizes: list[int]) -> dict[str, float]:
    rng = random.Random(1)
    diarization.diarization_errors(*_call(rng, 5))  # pyannote's import, once
    out = {}
    for turns in sizes:
        ref, hyp = _call(rng, turns)
        rounds = max(1, 200 // turns)
        started = time.perf_counter()
        for _ in range(rounds):
            diarization.diarization_errors(ref, hyp)
        out[f"score_ms_{len(ref)}_segments"] = (time.perf_counter() - started) / rounds * 1000
    return out


def ingest(samples: int) -> dict[str, float]:
    rng = random.Random(2)
    calls = [_call(rng, rng.randint(4, 40)) for _ in range(samples)]
    out = {}
    for label, with_segments in (("plain", False), ("diarized", True)):
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{os.path.join(tmp, 'bench.db')}")
            migrate(engine)
            store_sessions(engine, [SessionIn.model_validate({
                "session_id": f"c{i}", "ts": (T0 + timedelta(seconds=i)).isoformat(), "model_version": "m",
                "channel": "telephony", "status": "ok", "hypothesis": "thanks for calling"})
                for i in range(samples)], T0)
            records = [SampleIn.model_validate({
                "session_id": f"c{i}", "reference": "thanks for calling",
                **({"reference_segments": [{"speaker": s, "start": a, "end": b} for s, a, b in ref],
                    "hypothesis_segments": [{"speaker": s, "start": a, "end": b} for s, a, b in hyp]}
                   if with_segments else {})}) for i, (ref, hyp) in enumerate(calls)]
            started = time.perf_counter()
            for start in range(0, samples, 40):  # 40 calls of up to 80 segments: within a request's 4000
                batch = list(enumerate(records[start:start + 40]))
                _, rejected = score_and_store_samples(engine, batch, "basic", T0)
                assert not rejected, rejected[:1]
            out[f"ingest_samples_per_s_{label}"] = samples / (time.perf_counter() - started)
            engine.dispose()
    out["ingest_diarized_vs_plain"] = out["ingest_samples_per_s_diarized"] / out["ingest_samples_per_s_plain"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="'uem' was approximated")
    figures = {**per_sample([10, 100, 500]), **ingest(args.samples)}
    figures["loadavg"] = os.getloadavg()[0]
    for key, value in figures.items():
        print(f"{key:40s} {value:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
