"""A live collector shared by the simulator's end-to-end tests (one server for the whole folder)."""

from __future__ import annotations

import pytest

from live_collector import running_collector

# The simulator's vocabulary is left unchanged by the whisper normalizer (see
# test_simulator_transcripts.py), so scoring without it gives the same WER, 3x faster.
SIM_COLLECTOR_CONFIG = {"normalizer": "none", "pricing": {"default": 2.5, "l4-batch": 1.2, "api_per_minute": 0.024}}


@pytest.fixture(scope="session")
def collector(tmp_path_factory):
    with running_collector(tmp_path_factory.mktemp("sim-collector"), SIM_COLLECTOR_CONFIG) as live:
        yield live
