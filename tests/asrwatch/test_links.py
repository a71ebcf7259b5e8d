"""asrwatch.links: the one rule for making a link absolute on `external_url`, used by Settings
and by every router payload."""

import pytest

from asrwatch.links import absolute_link, is_absolute
from asrwatch.settings import Settings

EXT = "https://asrwatch.example.com"


@pytest.mark.parametrize("link, expected", [
    ("/runbooks/x", EXT + "/runbooks/x"),
    ("runbooks/router-delivery-failure", EXT + "/runbooks/router-delivery-failure"),  # no leading slash
    ("https://rb.example/y", "https://rb.example/y"),  # already absolute: unchanged
    ("HTTP://Upper.example/z", "HTTP://Upper.example/z"),  # schemes are case-insensitive
    ("", ""),  # no runbook stays no link, never the site root
])
def test_relative_links_join_the_external_url(link, expected):
    assert absolute_link(link, EXT) == expected
    assert absolute_link(link, EXT + "/") == expected  # one slash between base and path


@pytest.mark.parametrize("base", [None, ""])
def test_without_a_base_links_stay_as_they_are(base):
    assert absolute_link("/runbooks/x", base) == "/runbooks/x"


@pytest.mark.parametrize("link, absolute", [
    ("https://a.example", True), ("git+ssh://host/repo", True), ("/runbooks/x", False),
    ("runbooks/x", False), ("mailto:x@example.com", False), ("", False), (None, False),
])
def test_is_absolute_means_a_scheme_and_an_authority(link, absolute):
    assert is_absolute(link) is absolute


def test_settings_use_the_same_rule():
    settings = Settings(database_url="sqlite://", external_url=EXT + "/")
    assert settings.absolute_link("") == ""  # was EXT + "/" before the rule had one home
    assert settings.absolute_link("/api/v1/rollouts/a/verdict") == EXT + "/api/v1/rollouts/a/verdict"
    assert settings.runbook_base == EXT + "/runbooks"
    absolute_base = Settings(database_url="sqlite://", external_url=EXT, runbook_base_url="https://rb.example/rb/")
    assert absolute_base.runbook_base == "https://rb.example/rb"
    assert Settings(database_url="sqlite://").runbook_base == "/runbooks"


def test_comma_separated_lists_for_cors_origins_and_openslo():
    settings = Settings(database_url="sqlite://", cors_origins="https://a.example, https://b.example",
                        openslo="slo/a.yaml,, slo/b")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.openslo == ["slo/a.yaml", "slo/b"]
