"""`normalizer` and `entities` (#20): the language picks the normalizer by default, entity terms
are typed per domain, and a mistake is refused naming its key (never echoing the term)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from asrwatch.settings import Settings, load_settings


def test_defaults_pick_the_normalizer_by_language_and_have_no_entities():
    settings = Settings()
    assert settings.normalizer == "language" and settings.entities == {}


def test_entities_load_from_the_file(tmp_path):
    path = tmp_path / "asrwatch.yaml"
    path.write_text("entities:\n  retail: [Acme Cloud, Zephyr Max]\n  pharmacy: [ibuprofen]\n")
    assert load_settings(path).entities == {"retail": ["Acme Cloud", "Zephyr Max"], "pharmacy": ["ibuprofen"]}


@pytest.mark.parametrize("text, key", [
    ("entities:\n  retail: [Acme Cloud, '?!']\n", "entities.retail[1]: the term has no words"),
    ("entities:\n  retail: Acme Cloud\n", "entities.retail"),
    ("entities:\n  retail: ['']\n", "entities.retail.0"),
    ("entitys:\n  retail: [Acme]\n", "did you mean 'entities'"),
    ("normalizer: english\n", "normalizer"),
])
def test_mistakes_are_refused_naming_the_key(tmp_path, text, key):
    path = tmp_path / "asrwatch.yaml"
    path.write_text(text)
    with pytest.raises((ValidationError, ValueError)) as err:
        load_settings(path)
    assert key in str(err.value)
    assert "?!" not in str(err.value)
