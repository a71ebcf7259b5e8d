"""asrwatch: observability and SLO control plane for fleets of ASR services."""

__version__ = "0.1.0"
