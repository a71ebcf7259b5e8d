"""Subcommands of this part (registered into `asrwatch.cli`): `probe` and `probe-serve`.
torch, whisper and transformers are imported inside the commands only."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer


class BackendName(str, Enum):
    whisper = "whisper"
    ctc = "ctc"
    http = "http"


class EncoderContext(str, Enum):
    full = "full"
    trim = "trim"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def probe(
    collector: Optional[str] = typer.Option(None, "--collector", help="collector base URL, e.g. http://127.0.0.1:8080"),
    token: Optional[str] = typer.Option(None, "--token", envvar="ASRWATCH_TOKEN", help="ingest-scope bearer token"),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="NeMo JSONL manifest (default: bundled golden set)"),
    slices: str = typer.Option("all", "--slices", help="comma list: clean,noise_20db,noise_10db,noise_0db,far_field,telephony"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="first N utterances only"),
    backend: BackendName = typer.Option(BackendName.whisper, "--backend"),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda"),
    model: Optional[str] = typer.Option(None, "--model", help="whisper: .pt checkpoint (default bundled tiny.en); ctc: local model dir; http: model name"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="http backend: base URL of the ASR service"),
    endpoint_token: Optional[str] = typer.Option(None, "--endpoint-token", envvar="ASRWATCH_ENDPOINT_TOKEN", help="http backend: bearer token for the ASR service"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="default 8 on CPU, 64 on CUDA"),
    warmup_batches: Optional[int] = typer.Option(None, "--warmup-batches", min=0, help="untimed batches before the timed ones (default 1; 0 for --backend http)"),
    seed: int = typer.Option(0, "--seed", help="augmentation seed"),
    encoder_context: EncoderContext = typer.Option(EncoderContext.trim, "--encoder-context", help="whisper: trim padding to the batch (windows of at least 10 s), or the full 30 s window"),
    spool_dir: Optional[Path] = typer.Option(None, "--spool-dir", help="where results wait while the collector is down (default ~/.cache/asrwatch/spool/probe)"),
    no_spool: bool = typer.Option(False, "--no-spool", help="fail instead of spooling when the collector is down"),
    dry_run: bool = typer.Option(False, "--dry-run", help="run and print the table without posting"),
    region: Optional[str] = typer.Option(None, "--region", help="region dimension of the sessions"),
    summary_json: Optional[Path] = typer.Option(None, "--summary-json", help="write the run summary here"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Run the reference probe on labeled audio and report WER, confidence, SNR, latency and RTFx per slice."""
    from inference_probe.audio_io import AudioError
    from inference_probe.augment import parse_slices
    from inference_probe.errors import ProbeError
    from inference_probe.manifest import ManifestError

    if not collector and not dry_run:
        _fail("--collector URL is required (or --dry-run to only print the table)")
    try:
        slice_names = parse_slices(slices)
        from inference_probe.run import run_probe
        from inference_probe.summary import format_report

        result = run_probe(
            collector_url=None if dry_run else collector, token=token, manifest=manifest, slices=slice_names,
            limit=limit, backend=backend.value, model=model, endpoint=endpoint, device=device,
            batch_size=batch_size, warmup_batches=warmup_batches, seed=seed, spool_dir=None if no_spool else (spool_dir or "default"),
            region=region, encoder_context=encoder_context.value, show_progress=not quiet,
            summary_path=summary_json, endpoint_token=endpoint_token)
    except (ManifestError, AudioError, ProbeError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(format_report(result))


def probe_serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8090, "--port"),
    model: Optional[str] = typer.Option(None, "--model", help=".pt checkpoint (default bundled tiny.en)"),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda"),
    token: Optional[str] = typer.Option(None, "--token", envvar="ASRWATCH_PROBE_SERVE_TOKEN", help="require this bearer token"),
    encoder_context: EncoderContext = typer.Option(EncoderContext.trim, "--encoder-context"),
) -> None:
    """Serve the Whisper backend as an OpenAI-compatible POST /v1/audio/transcriptions."""
    import uvicorn

    from inference_probe.backends.whisper_backend import WhisperBackend
    from inference_probe.serve import create_serve_app

    try:
        backend = WhisperBackend.load(model, device=device, encoder_context=encoder_context.value)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        _fail(str(exc))
    typer.echo(f"probe-serve: {backend.model_version} on {backend.device} at http://{host}:{port}/v1/audio/transcriptions")
    uvicorn.run(create_serve_app(backend, token=token), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the `asrwatch` app."""
    app.command("probe")(probe)
    app.command("probe-serve")(probe_serve)
