"""Runbooks as Markdown, served by `collector.api.runbooks` (a package so a wheel ships them beside the code)."""
