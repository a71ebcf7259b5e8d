import subprocess
import sys
from datetime import datetime, timezone

import pytest
import yaml

from asrwatch.settings import hash_token, load_settings
from collector.store.database import make_engine, migrate
from collector.store.ingest import score_and_store_samples, store_sessions
from collector.store.retention import apply_retention
from collector.store.schemas import SampleIn, SessionIn


def test_env_overrides_the_config_file(tmp_path, monkeypatch):
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump({"normalizer": "basic", "pricing": {"default": 1.0}}))
    monkeypatch.setenv("ASRWATCH_NORMALIZER", "none")
    monkeypatch.setenv("ASRWATCH_AUTH__READ", '["r1"]')
    settings = load_settings(path)
    assert settings.normalizer == "none"
    assert settings.auth.read == [hash_token("r1")]  # held hashed, never as the plain token
    assert settings.pricing["default"] == 1.0


def test_bad_config_names_the_key(tmp_path):
    path = tmp_path / "asrwatch.yaml"
    path.write_text(yaml.safe_dump({"normalizer": "klingon"}))
    with pytest.raises(Exception, match="normalizer"):
        load_settings(path)


def test_serve_refuses_a_public_address_without_tokens(tmp_path):
    result = subprocess.run([sys.executable, "-m", "asrwatch", "serve", "--host", "0.0.0.0", "--port", "1"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "without tokens" in result.stderr


def test_retention_deletes_text_but_keeps_scores(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    now = datetime(2026, 11, 21, tzinfo=timezone.utc)
    old = SessionIn(session_id="old", ts="2026-10-01T00:00:00Z", model_version="m", status="ok", hypothesis="hi bob")
    new = SessionIn(session_id="new", ts="2026-11-20T00:00:00Z", model_version="m", status="ok", hypothesis="hi amy")
    store_sessions(engine, [old, new], now)
    score_and_store_samples(engine, [(0, SampleIn(session_id="old", reference="hi rob")),
                                     (1, SampleIn(session_id="new", reference="hi amy"))], "basic", now)
    assert apply_retention(engine, now, 30) == {"sessions": 1, "samples": 1, "session_attributes": 0,
                                                "stage_attributes": 0}
    with engine.connect() as conn:
        rows = {r.session_id: r for r in conn.exec_driver_sql("select session_id, hypothesis from sessions")}
        samples = {r[0]: r for r in conn.exec_driver_sql("select session_id, reference, hypothesis, wer from samples")}
    assert rows["old"].hypothesis is None and rows["new"].hypothesis == "hi amy"
    assert samples["old"][1] is None and samples["old"][2] is None and samples["old"][3] == 0.5
    assert samples["new"][1] == "hi amy"


def test_watermark_clock_follows_ingested_event_time(tmp_path):
    from datetime import timedelta

    from collector.store.clock import evaluation_time

    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(engine)
    wall = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    assert evaluation_time(engine, "watermark", wall) == wall  # nothing ingested yet
    store_sessions(engine, [SessionIn(session_id="a", ts="2026-11-20T08:30:42Z", model_version="m", status="ok")], wall)
    assert evaluation_time(engine, "watermark", wall) == datetime(2026, 11, 20, 8, 31, tzinfo=timezone.utc)
    store_sessions(engine, [SessionIn(session_id="b", ts="2030-01-01T00:00:00Z", model_version="m", status="ok")], wall)
    assert evaluation_time(engine, "watermark", wall) == wall + timedelta(minutes=5)  # capped
    assert evaluation_time(engine, "wall", wall) == wall
    with pytest.raises(ValueError, match="evaluator_clock"):
        evaluation_time(engine, "sundial", wall)
