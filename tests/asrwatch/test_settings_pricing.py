"""`pricing`: a price is a finite, non-negative number; a bad one is refused naming its key.

NaN slipped through `price < 0` (every comparison with NaN is false) and made every cost NaN;
infinity made them infinite. YAML writes them `.nan` and `.inf`, JSON in the environment `NaN`
and `Infinity`, a bare environment value `nan` or `inf`.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from asrwatch.settings import Settings, load_settings


@pytest.mark.parametrize("written", [".nan", ".NaN", ".inf", "-.inf"])
def test_a_non_finite_price_in_the_file_is_refused_naming_its_pool(tmp_path, written):
    path = tmp_path / "asrwatch.yaml"
    path.write_text(f"pricing:\n  default: 2.5\n  h100: {written}\n")
    with pytest.raises(ValidationError) as err:
        load_settings(path)
    assert "pricing.h100: price must be a finite number" in str(err.value)
    assert "pricing.default" not in str(err.value)  # the good price is not blamed


@pytest.mark.parametrize("env, key", [
    ({"ASRWATCH_PRICING__A100": "inf"}, "pricing.a100"),
    ({"ASRWATCH_PRICING__L4": "nan"}, "pricing.l4"),
    ({"ASRWATCH_PRICING": '{"default": NaN}'}, "pricing.default"),
    ({"ASRWATCH_PRICING": '{"default": 1.0, "spot": -Infinity}'}, "pricing.spot"),
])
def test_a_non_finite_price_from_the_environment_is_refused_naming_its_pool(monkeypatch, env, key):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        load_settings()
    assert f"{key}: price must be a finite number" in str(err.value)


def test_finite_prices_still_load_and_negative_ones_are_still_refused():
    assert Settings(pricing={"h100": 4.0, "free": 0.0}).pricing == {"h100": 4.0, "free": 0.0, "default": 2.5}
    with pytest.raises(ValidationError, match=r"pricing\.h100: price must be >= 0"):
        Settings(pricing={"h100": -1.0})
