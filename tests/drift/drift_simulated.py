"""Simulated fleets stored through the collector's own ingest path, for the drift scenario tests.

The simulator (`simulator.generate`) draws sessions and labeled samples deterministically;
`collector.store.ingest` validates, redacts, scores (WER) and stores them in a fresh SQLite
database, exactly as `POST /api/v1/sessions` and `/samples` would, minus HTTP.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from collector.store.database import make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.schemas import SampleIn, SessionIn
from simulator.fleet import FleetConfig
from simulator.generate import generate
from simulator.post import sample_chunks
from simulator.scenarios import ScenarioSet, activate

# The end of every simulated run: drift is judged "as of" this time.
AT = datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc)


def simulate(tmp: Path, scenarios: list[str], *, hours: float, onset_hours: float | None, rate: float,
             label_fraction: float, seed: int = 11):
    """Store `hours` of the fleet ending at AT, each scenario on from `onset_hours` into the run.

    Returns (engine, truths, fleet)."""
    start = AT - timedelta(hours=hours)
    specs = [name if onset_hours is None else f"{name}@{onset_hours:g}h" for name in scenarios]
    active = ScenarioSet([activate(spec, start, hours) for spec in specs])
    fleet = FleetConfig(label_fraction=label_fraction)
    engine = make_engine(f"sqlite:///{tmp / 'drift.db'}")
    migrate(engine)
    received = datetime.now(timezone.utc)
    sessions, samples = [], []

    def flush() -> None:
        if sessions:
            store_sessions(engine, [SessionIn.model_validate(r) for r in sessions], received)
        for chunk in sample_chunks(samples, len(samples)):  # within a request's diarization segment budget
            _, rejected = score_and_store_samples(
                engine, [(i, SampleIn.model_validate(s)) for i, s in enumerate(chunk)], "none", received)
            assert not rejected, rejected[:3]
        sessions.clear()
        samples.clear()

    for batch in generate(active, start, hours, rate, seed, fleet=fleet):
        sessions.extend(batch.all_records())
        samples.extend(s.to_api() for s in batch.samples)
        if len(sessions) >= 5000:
            flush()
    flush()
    return engine, active.truths(fleet), fleet
