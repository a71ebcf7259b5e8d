"""Hypothesis properties of the config parsers: SLO specs (slo/spec.py) and asrwatch.yaml
(asrwatch/settings.py).

An arbitrary spec gives either a valid SLOSpec or an SLOSpecError that names the SLO and the
field; an arbitrary YAML mapping gives either Settings or a validation error naming the key,
never another exception type. Derandomized so CI sees the same examples every run.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from asrwatch.settings import Settings, hash_token, load_settings
from slo.spec import (
    DIMENSIONS,
    LATENCY_KINDS,
    MAX_DURATION_S,
    SLI_KINDS,
    SLOSpec,
    SLOSpecError,
    format_duration,
    parse_duration,
    parse_slo,
    parse_slos,
    slos_from_settings,
)

PROFILE = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalar = st.none() | st.booleans() | st.integers() | st.floats() | text
anything = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                        max_leaves=6)
names = st.from_regex(r"[A-Za-z0-9_.:-]{1,20}", fullmatch=True)
durations = st.sampled_from(["30d", "28d", "7d", "1h30m", "5m", "90s", "1w", "0d", "-1d", "abc", "", "1.5h",
                             "9" * 300 + "d", "1e400d"]) | st.integers() | st.floats() | text
SPEC_KEYS = ("name", "sli", "objective", "window", "threshold_ms", "max_wer", "filters", "group_by",
             "min_events", "description", "runbook_url")
spec_like = st.fixed_dictionaries({}, optional={
    "name": names | text | st.integers() | st.none(),
    "sli": st.sampled_from(SLI_KINDS) | text | st.integers(),
    "objective": st.floats(0, 1) | st.floats() | st.integers() | text | st.booleans(),
    "window": durations,
    "threshold_ms": st.floats(0, 10_000) | st.floats() | st.none() | text,
    "max_wer": st.floats(0, 1) | st.floats() | st.none() | text,
    "filters": st.dictionaries(st.sampled_from(DIMENSIONS) | text, text | st.lists(text, max_size=2) | st.integers(),
                               max_size=2) | anything,
    "group_by": st.lists(st.sampled_from(DIMENSIONS) | text, max_size=3) | text | st.integers(),
    "min_events": st.integers() | text,
    "description": text | st.integers(),
    "runbook_url": text | st.none() | st.integers(),
}) | st.dictionaries(text, anything, max_size=3)

FIELD_NAMES = set(SLOSpec.model_fields)


def _error_names_a_field(part: str, raw: dict) -> bool:
    loc, _, msg = part.partition(": ")
    if loc == "spec":  # a rule across fields: its message starts with the field it is about
        return msg.split(":")[0] in FIELD_NAMES
    keys = {str(k) for k in raw}
    return loc.split(".")[0] in FIELD_NAMES or loc in keys or loc == "''" and "" in keys


@PROFILE
@given(spec_like, st.integers(0, 5))
@example({"name": "x", "sli": "latency", "objective": 0.99, "threshold_ms": 100, "window": "9" * 300 + "d"}, 0)
@example({"name": "x", "sli": "latency", "objective": 0.99, "threshold_ms": 100, "window": 1e300}, 0)
def test_any_spec_is_valid_or_an_error_naming_the_slo_and_field(raw, index):
    try:
        spec = parse_slo(raw, index)
    except SLOSpecError as exc:
        label = raw.get("name")
        name = str(label) if label else f"slos[{index}]"
        prefix = f"SLO {name!r}: "
        message = str(exc)
        assert message.startswith(prefix), message
        parts = message[len(prefix):].split("; ")
        assert parts and all(_error_names_a_field(p, raw) for p in parts), message
        return
    # What a valid spec promises the engine and the Prometheus rule export.
    assert 0 < spec.objective < 1
    assert spec.window.total_seconds() > 0 and spec.window.total_seconds() % 60 == 0
    assert parse_duration(format_duration(spec.window)) == spec.window
    if spec.sli in LATENCY_KINDS:
        assert spec.threshold_ms is not None and spec.threshold_ms > 0
    if spec.sli == "quality":
        assert spec.max_wer is not None and spec.max_wer >= 0
    assert set(spec.group_by) <= set(DIMENSIONS) and set(spec.filters) <= set(DIMENSIONS)
    assert SLOSpec.model_validate(spec.model_dump()) == spec


@st.composite
def valid_specs(draw) -> dict:
    sli = draw(st.sampled_from(SLI_KINDS))
    spec = {"name": draw(names), "sli": sli, "objective": draw(st.floats(0.001, 0.9999)),
            "window": f"{draw(st.integers(1, 90))}d"}
    if sli in LATENCY_KINDS:
        spec["threshold_ms"] = draw(st.floats(1, 60_000))
    if sli == "quality":
        spec["max_wer"] = draw(st.floats(0, 1))
    if sli == "diarization":
        spec["max_der"] = draw(st.floats(0, 1))
    spec["group_by"] = draw(st.lists(st.sampled_from(DIMENSIONS), unique=True, max_size=3))
    return spec


@PROFILE
@given(st.lists(valid_specs(), min_size=1, max_size=5))
def test_valid_specs_parse_and_a_reused_name_is_named(raws):
    names_seen = [r["name"] for r in raws]
    if len(set(names_seen)) == len(names_seen):
        assert [s.name for s in parse_slos(raws)] == names_seen
    else:
        with pytest.raises(SLOSpecError, match="name: used by more than one SLO"):
            parse_slos(raws)


UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@PROFILE
@given(st.sampled_from("smhdw").flatmap(lambda u: st.tuples(st.integers(1, 2 * MAX_DURATION_S // UNIT_SECONDS[u]),
                                                             st.just(u))))
def test_durations_round_trip_up_to_the_limit(term):
    n, unit = term
    seconds = n * UNIT_SECONDS[unit]
    if seconds > MAX_DURATION_S:
        with pytest.raises(ValueError, match="is longer than 366d"):
            parse_duration(f"{n}{unit}")
        return
    window = parse_duration(f"{n}{unit}")
    assert window == timedelta(seconds=seconds) and parse_duration(format_duration(window)) == window


# -- asrwatch.yaml -------------------------------------------------------------------------------

config_like = st.fixed_dictionaries({}, optional={
    "database_url": st.just("sqlite:///./asrwatch-data/asrwatch.db") | text | st.integers(),
    "auth": st.fixed_dictionaries({}, optional={
        scope: st.lists(st.builds(hash_token, text), max_size=2) | st.lists(text, max_size=2) | text | st.integers()
        for scope in ("ingest", "read", "admin")}) | anything,
    "pricing": st.dictionaries(text, st.floats(0, 100) | st.floats() | text, max_size=3) | anything,
    "normalizer": st.sampled_from(["whisper_en", "basic", "none", "klingon"]) | st.integers(),
    "retention_days": st.floats() | st.none() | text,
    "max_body_bytes": st.integers() | text,
    "host": text | st.integers(),
    "port": st.integers() | text,
    "slos": st.lists(spec_like, max_size=2) | anything,
    "evaluator_interval_s": st.floats() | text,
    "evaluator_clock": st.sampled_from(["wall", "watermark", "sundial"]),
    "evaluator_enabled": st.booleans() | text,
    "slo_min_events": st.integers() | text,
    "rate_limits": st.dictionaries(st.sampled_from(["ingest", "read", "admin", "other"]),
                                   st.floats() | st.fixed_dictionaries({"rate": st.floats()}) | text, max_size=2),
    "cors_origins": st.lists(text, max_size=2) | text,
}) | st.dictionaries(text | st.integers() | st.booleans(), anything, max_size=3)


@PROFILE
@given(config_like)
@example({1: "a numeric key"})
@example({"auth": {"ingest": 5}})
@example({"slos": [{"name": "x", "sli": "latency", "objective": 0.9, "threshold_ms": 1, "window": "9" * 300 + "d"}]})
def test_any_yaml_mapping_gives_settings_or_an_error_naming_the_key(tmp_path_factory, mapping):
    path = tmp_path_factory.mktemp("config") / "asrwatch.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True))
    try:
        loaded = load_settings(path)
    except ValidationError as exc:
        for error in exc.errors():
            assert error["loc"] and str(error["loc"][0]) in {str(k) for k in mapping}, error
        assert "input_value" not in str(exc)  # values may be tokens or passwords: never echoed
        return
    except ValueError as exc:  # load_settings' own checks: the file and the key are named
        assert str(exc).startswith(str(path)) and re.search(r"\b(auth|config|key)", str(exc)), exc
        return
    assert isinstance(loaded, Settings)
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for scope in ("ingest", "read", "admin")
               for h in getattr(loaded.auth, scope))
    assert all(math.isfinite(p) and p >= 0 for p in loaded.pricing.values()) and "default" in loaded.pricing
    try:
        slos_from_settings(loaded)
    except SLOSpecError as exc:
        assert str(exc).startswith("SLO "), exc


@PROFILE
@given(st.none() | st.integers() | text | st.lists(scalar, max_size=3))
def test_a_yaml_document_that_is_not_a_mapping_is_refused_by_name(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("config") / "asrwatch.yaml"
    path.write_text(yaml.safe_dump(document))
    if not document:  # an empty file is the defaults
        assert isinstance(load_settings(path), Settings)
        return
    with pytest.raises(ValueError, match=re.escape(f"{path}: the config must be a mapping")):
        load_settings(path)
