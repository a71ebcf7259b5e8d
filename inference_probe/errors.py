"""Errors the probe reports to users (torch-free, so the CLI can catch them cheaply)."""


class ProbeError(RuntimeError):
    """A probe run cannot start or finish; the message says what to fix."""


class WeightsError(ProbeError):
    """Weights are missing, corrupt, or do not match their recorded hash."""
