"""CER and entity recall in the console (#20): the model-owner page's WER table carries the API's
`cer` and `entity_recall`, and the debug page shows a sample's CER and entity counts as the
collector stored them. The seeded fleet's labeled samples carry their tenant's terms
(`simulator.generate.entity_terms`)."""

from __future__ import annotations

import pytest
from console_pages import labeled_sample, metrics, seeded_page, table, window

from dashboards import transforms as tf

pytestmark = pytest.mark.filterwarnings("ignore:'uem' was approximated")


def test_model_owner_wer_table_carries_cer_and_entity_recall(seeded, api_get):
    at = seeded_page(seeded, "model_owner")
    rows = api_get("/api/v1/wer", group_by="model_version", **window(seeded))
    assert any(r["entity_occurrences"] for r in rows), "the seeded samples carry entity terms"
    shown = table(at, "entity_recall")
    assert list(zip(shown["model_version"], shown["cer"], shown["entity_recall"], shown["entity_occurrences"])) == [
        (r["model_version"], r["cer"], r["entity_recall"], r["entity_occurrences"]) for r in rows]


def test_debug_shows_a_samples_cer_and_entities(seeded, api_get):
    session, sample = labeled_sample(api_get, seeded, "entity_occurrences", tenant="retail-co")
    at = seeded_page(seeded, "debug", session_id=session["session_id"])
    shown = metrics(at)
    assert shown["CER"] == tf.fmt_pct(sample["char_errors"] / sample["ref_chars"])
    assert shown["Entities found"] == f"{sample['entities_found']} / {sample['entity_occurrences']}"
    assert shown["Entity recall"] == tf.fmt_pct(sample["entities_found"] / sample["entity_occurrences"])


def test_samples_scored_before_cer_show_none():
    assert tf.sample_cer({"wer": 0.1, "ref_chars": None}) is None
    assert tf.sample_cer({"char_errors": 1, "ref_chars": 4}) == 0.25
    assert tf.sample_entity_recall({"entity_occurrences": 0, "entities_found": 0}) is None
