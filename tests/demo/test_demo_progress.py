"""What the demo says while it runs: progress in event time, an early stop, the way back in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from asrwatch.demo import DEMO_CONFIG, Progress, reopen_instructions, replay_shortfall

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_progress_is_said_once_per_tenth_of_the_span(capsys):
    progress = Progress(START, 10)
    for minute in range(0, 10 * 60 + 1, 7):
        progress.update(START + timedelta(minutes=minute))
    progress.update(START + timedelta(hours=10))
    progress.update(None)  # the collector did not answer: nothing said, nothing broken
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10, lines
    assert lines[0] == "[09:03 event] progress: 1.1 of 10 h replayed (10%)"  # the first poll past a tenth
    assert lines[-1] == "[18:00 event] progress: 10.0 of 10 h replayed (100%)"


def test_a_replay_cut_short_is_named_with_where_it_stopped():
    assert replay_shortfall(START, 24, START + timedelta(hours=24)) is None
    assert replay_shortfall(START, 24, START + timedelta(hours=24, minutes=-1)) is None  # the last minute in flight
    assert replay_shortfall(START, 24, START + timedelta(hours=18, minutes=40)) == \
        "at 02:40 event time, 5.3 h short of 08:00"
    assert replay_shortfall(START, 24, None) == "before any session was stored"


def test_the_way_back_names_the_database_and_the_demo_config(tmp_path: Path):
    text = reopen_instructions(tmp_path / "asrwatch-data", had_console=True)
    database = (tmp_path / "asrwatch-data" / "demo.db").resolve()
    assert f"ASRWATCH_DATABASE_URL=sqlite:///{database} asrwatch serve --config {DEMO_CONFIG.resolve()}" in text
    assert "asrwatch console --api http://127.0.0.1:8080" in text and text.startswith("The collector and the console")
