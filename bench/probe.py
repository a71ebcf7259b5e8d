"""Probe throughput per slice: RTFx of Whisper through the whole probe run (`run_probe`:
augmentation, batching, transcription, WER and SNR), batched vs one utterance at a time,
measured side by side in alternating rounds of one process.

RTFx is the Open ASR Leaderboard's (huggingface/open_asr_leaderboard,
transformers/run_eval.py): each utterance's time is its batch's time divided by the batch
size, warm-up batches are left out, RTFx = sum of audio seconds / sum of those times, here
per slice (clean, noise_*, far_field, telephony) and over the run. `wall` is what a user
waits for one `run_probe` call (warm-up, augmentation and scoring included). WER rides
along so that speed never hides a quality loss.

    python bench/probe.py                                    # CPU: 16 clips x 6 slices, batch 1 vs 8
    python bench/probe.py --device cuda --limit 150 --batch-sizes 1,64,256
    python bench/probe.py --contexts full,trim               # also the 30 s window vs the trimmed one

The first batch size is the baseline of every ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spread import spread  # noqa: E402  (bench/spread.py)


def one_run(backend, *, limit, slices, batch_size, warmup_batches) -> dict:
    from inference_probe.run import run_probe

    started = time.perf_counter()
    run = run_probe(None, backend=backend, limit=limit, slices=slices, batch_size=batch_size,
                    warmup_batches=warmup_batches, show_progress=False, spool_dir=None)
    wall = time.perf_counter() - started
    t = run.totals
    return {"wall_s": wall, "rtfx": t["rtfx"], "audio_s": t["audio_seconds"], "compute_s": t["compute_seconds"],
            "tokens_per_s": t["tokens_per_second"], "peak_mem_mb": t["gpu_mem_peak_mb"],
            "slices": {s.slice: {"rtfx": s.rtfx, "wer": s.wer, "audio_s": s.audio_seconds,
                                 "transcription_s": s.transcription_seconds} for s in run.summaries},
            "wer": sum(s.errors for s in run.summaries) / max(1, sum(s.ref_words for s in run.summaries))}


def summarize_runs(runs: list[dict], baseline: list[dict]) -> dict:
    """Medians and spreads over rounds; ratios round by round against the baseline's run
    of the same round (both sides saw the same machine load)."""
    row = {"rounds": len(runs), "audio_s": runs[0]["audio_s"], "wer": runs[0]["wer"],
           "rtfx_spread": spread([r["rtfx"] for r in runs]), "wall_s_spread": spread([r["wall_s"] for r in runs]),
           "ratio_spread": spread([r["rtfx"] / b["rtfx"] for r, b in zip(runs, baseline)]),
           "tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
           "peak_mem_mb": max((r["peak_mem_mb"] or 0.0) for r in runs) or None, "slices": {}}
    row["rtfx"] = row["rtfx_spread"]["median"]
    for name in runs[0]["slices"]:
        values = [r["slices"][name]["rtfx"] for r in runs]
        ratios = [v / b["slices"][name]["rtfx"] for v, b in zip(values, baseline)]
        row["slices"][name] = {"rtfx": statistics.median(values), "rtfx_spread": spread(values),
                               "ratio": statistics.median(ratios), "wer": runs[0]["slices"][name]["wer"]}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Whisper probe RTFx per slice, batched vs one at a time")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--limit", type=int, default=None, help="golden clips (default 16 on CPU, all on GPU)")
    parser.add_argument("--slices", default="all")
    parser.add_argument("--batch-sizes", default=None, help="comma list, the first is the baseline "
                                                            "(default 1,8 on CPU; 1,64,256 on GPU)")
    parser.add_argument("--contexts", default="trim", help="whisper encoder windows: trim, full or both")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per point")
    parser.add_argument("--warmup-batches", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    import torch
    from tqdm import tqdm

    from inference_probe.augment import parse_slices
    from inference_probe.backends.whisper_backend import WhisperBackend
    from inference_probe.model_store import load_weights
    from inference_probe.timing import resolve_device
    from inference_probe.whisper_decode import DecodingSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    gpu = device.startswith("cuda")
    limit = args.limit or (None if gpu else 16)
    sizes = [int(s) for s in (args.batch_sizes or ("1,64,256" if gpu else "1,8")).split(",")]
    slices = parse_slices(args.slices)
    contexts = args.contexts.split(",")
    weights = load_weights()
    backends = {c: WhisperBackend(weights, device=device, settings=DecodingSettings(encoder_context=c))
                for c in contexts}
    card = f" ({torch.cuda.get_device_name(device)})" if gpu else ""
    print(f"device {device}{card}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, clips {limit or 'all'} x slices {','.join(slices)}, "
          f"model {weights.model_version}, rounds {args.rounds}, load {os.getloadavg()[0]:.2f}", flush=True)
    points = [(c, b) for c in contexts for b in sizes]
    runs: dict[tuple[str, int], list[dict]] = {p: [] for p in points}
    loads = []
    with tqdm(total=args.rounds * len(points), desc="probe bench", unit="run", file=sys.stderr) as bar:
        for round_no in range(args.rounds):
            # Alternate the order every round so neither side always runs first.
            for context, size in (points if round_no % 2 == 0 else points[::-1]):
                runs[(context, size)].append(one_run(backends[context], limit=limit, slices=slices,
                                                     batch_size=size, warmup_batches=args.warmup_batches))
                loads.append(os.getloadavg()[0])
                bar.update()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = []
    for context, size in points:
        row = summarize_runs(runs[(context, size)], runs[(context, sizes[0])])
        row.update(device="cuda" if gpu else "cpu", context=context, batch=size, baseline_batch=sizes[0],
                   peak_rss_mb=round(rss_mb), load_1m=spread(loads),
                   gpu=torch.cuda.get_device_name(device) if gpu else None)
        rows.append(row)

    load = spread(loads)
    print(f"\nRTFx (median of {args.rounds} rounds; min-max) per slice; ratio = RTFx / batch {sizes[0]}'s, "
          f"round by round; load average {load['min']:.2f} / {load['median']:.2f} / {load['max']:.2f} "
          f"(min/median/max); peak RSS {rss_mb:.0f} MB")
    for row in rows:
        r, w, q = row["rtfx_spread"], row["wall_s_spread"], row["ratio_spread"]
        mem = f", GPU peak {row['peak_mem_mb']:.0f} MiB" if row["peak_mem_mb"] else ""
        print(f"\n{row['context']} window, batch {row['batch']}: all slices RTFx {r['median']:.1f} "
              f"({r['min']:.1f}-{r['max']:.1f}), ratio {q['median']:.2f}x ({q['min']:.2f}-{q['max']:.2f}), "
              f"wall {w['median']:.1f} s ({w['min']:.1f}-{w['max']:.1f}) for {row['audio_s']:.0f} s of audio, "
              f"WER {100 * row['wer']:.1f}%, {row['tokens_per_s']:.0f} tokens/s{mem}")
        for name, s in row["slices"].items():
            sp = s["rtfx_spread"]
            print(f"  {name:<11} RTFx {s['rtfx']:>8.1f} ({sp['min']:.1f}-{sp['max']:.1f})  ratio {s['ratio']:.2f}x  "
                  f"WER {100 * s['wer']:.1f}%")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
