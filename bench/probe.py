"""Probe throughput: RTFx (audio seconds / compute seconds) of the Whisper backend over a
batch-size sweep, full 30 s windows vs windows trimmed to the batch, measured side by side
in one run, with tokens/s, peak GPU memory and WER (so speed never hides a quality loss).

    python bench/probe.py                      # CPU here: small sweep on 24 clips
    python bench/probe.py --device cuda --limit 150 --batch-sizes 1,16,64,128,256

Clips are sorted longest first, as the probe batches them (pad-aware batching).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(backend, audios, references, batch_size: int, repeat: int) -> dict:
    from collector.wer import word_errors
    from inference_probe.timing import StageTimer, peak_memory_mb, reset_peak_memory

    audio_s = sum(len(a) for a in audios) / 16_000
    best = None
    for _ in range(repeat):
        reset_peak_memory(backend.device)
        compute = tokens = errors = words = 0
        stage_s: dict[str, float] = {}
        for start in range(0, len(audios), batch_size):
            timer = StageTimer(backend.device)
            results = backend.transcribe_batch(audios[start:start + batch_size], timer)
            compute += timer.total_s()
            for st in timer.stages:
                stage_s[st.name] = stage_s.get(st.name, 0.0) + st.duration_ns / 1e9
            for res, ref in zip(results, references[start:start + batch_size]):
                tokens += len(res.token_probs)
                e = word_errors(ref, res.text)
                errors, words = errors + e.errors, words + e.ref_words
        row = {"batch": batch_size, "context": backend.settings.encoder_context, "audio_s": round(audio_s, 1),
               "compute_s": round(compute, 3), "rtfx": round(audio_s / compute, 1),
               "tokens_per_s": round(tokens / compute, 1), "peak_mem_mb": peak_memory_mb(backend.device),
               "wer": round(errors / words, 4), **{f"{k}_s": round(v, 3) for k, v in stage_s.items()}}
        if best is None or row["compute_s"] < best["compute_s"]:
            best = row
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Whisper probe throughput sweep")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, default=None, help="utterances (default 24 on CPU, all on GPU)")
    parser.add_argument("--batch-sizes", default=None, help="comma list (default 1,4,8,16 CPU; 1,8,32,64,128,256 GPU)")
    parser.add_argument("--contexts", default="full,trim")
    parser.add_argument("--repeat", type=int, default=None, help="runs per point, best kept (default 1 CPU, 3 GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    import torch

    from inference_probe.audio_io import read_audio
    from inference_probe.backends.whisper_backend import WhisperBackend
    from inference_probe.manifest import load_manifest
    from inference_probe.model_store import load_weights
    from inference_probe.timing import resolve_device
    from inference_probe.whisper_decode import DecodingSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gpu = device.startswith("cuda")
    limit = args.limit or (None if gpu else 24)
    sizes = [int(s) for s in (args.batch_sizes or ("1,8,32,64,128,256" if gpu else "1,4,8,16")).split(",")]
    repeat = args.repeat or (3 if gpu else 1)
    utterances = sorted(load_manifest(limit=limit), key=lambda u: -u.duration)
    audios = [read_audio(u.audio_path)[0] for u in utterances]
    references = [u.text for u in utterances]
    weights = load_weights()
    print(f"device {device}{' (' + torch.cuda.get_device_name(device) + ')' if gpu else ''}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, {len(audios)} clips, "
          f"{sum(len(a) for a in audios) / 16_000:.1f} s audio, model {weights.model_version}")
    rows = []
    for context in args.contexts.split(","):
        backend = WhisperBackend(weights, device=device, settings=DecodingSettings(encoder_context=context))
        backend.transcribe_batch(audios[: min(4, len(audios))], __import__("inference_probe.timing").timing.StageTimer(device))  # warm-up
        for size in sizes:
            row = measure(backend, audios, references, size, repeat)
            row["device"] = "cuda" if gpu else "cpu"
            rows.append(row)
            mem = f"{row['peak_mem_mb']:.0f}" if row["peak_mem_mb"] is not None else "-"
            print(f"context {context:<4} batch {size:>4}: RTFx {row['rtfx']:>8.1f}  tokens/s {row['tokens_per_s']:>8.1f}  "
                  f"compute {row['compute_s']:>7.3f} s  peak {mem:>6} MiB  WER {100 * row['wer']:.1f}%  "
                  f"(features {row.get('features_s', 0):.3f} s, encoder {row.get('inference_s', 0):.3f} s, "
                  f"decode {row.get('decode_s', 0):.3f} s)")
        backend.close()
    by = {(r["context"], r["batch"]): r for r in rows}
    print("\nside by side (same run):")
    for size in sizes:
        full, trim = by.get(("full", size)), by.get(("trim", size))
        if full and trim:
            print(f"  batch {size:>4}: trim/full RTFx = {trim['rtfx'] / full['rtfx']:.2f}x  "
                  f"(WER full {100 * full['wer']:.1f}% vs trim {100 * trim['wer']:.1f}%)")
    for context in args.contexts.split(","):
        first, best = by.get((context, sizes[0])), max((r for r in rows if r["context"] == context), key=lambda r: r["rtfx"])
        if first:
            print(f"  {context}: best batch {best['batch']} RTFx {best['rtfx']} = {best['rtfx'] / first['rtfx']:.1f}x batch {sizes[0]}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
