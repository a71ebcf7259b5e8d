"""Regenerate the bundled golden set: `python -m inference_probe.golden.generate`.

Synthesizes domain utterances (commands, numbers, product names) with espeak-ng (Debian
package, needed only here, never at probe time) across several voices and speaking
rates, resamples to 16 kHz mono, and writes FLAC plus a NeMo-style JSONL manifest
(`audio_filepath`, `duration`, `text`, and `id`, `voice`, `rate_wpm` for slicing).
Texts, voices and rates come from a seeded RNG, so a rerun with the same espeak-ng
version reproduces the same samples; `--check` verifies that against the files on disk.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent
SEED = 20261121
N_UTTERANCES = 150
SAMPLE_RATE = 16_000
VOICES = ("en-us", "en-gb", "en-us+m2", "en-us+f2", "en-us+m1", "en-us+klatt")
RATES_WPM = (150, 165, 180)
PEAK = 0.7
# Silence around the speech after trimming espeak's own lead-in/out: Whisper tiny misreads
# the first word of clips that start abruptly.
MARGIN_S = 0.3

PRODUCTS = ("Nimbus Pro", "Atlas Router", "Falcon Cloud", "Orion Gateway", "Pixel Stream",
            "Harbor Sync", "Summit Desk", "River Mail", "Beacon Pay", "Cobalt Drive")
PEOPLE = ("Sarah", "David", "Maria", "James", "Linda", "Robert", "Emily", "Michael", "Anna", "Peter")
CITIES = ("Boston", "Denver", "Chicago", "Seattle", "Austin", "Toronto", "London", "Dallas", "Phoenix")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ORDINALS = ("first", "second", "third", "fourth", "fifth", "tenth", "twelfth", "fifteenth", "twentieth")
ITEMS = ("printer paper", "coffee filters", "batteries", "light bulbs", "notebooks", "cables")
ROOMS = ("kitchen", "living room", "bedroom", "office", "garage", "hallway")

TEMPLATES = (
    "Set a timer for {n_small} minutes and remind me to call {person}.",
    "Transfer {n_money} dollars from checking to savings on {day}.",
    "Open the {product} dashboard and show the error rate for today.",
    "Schedule a meeting with {person} on {day} at {hour} o'clock.",
    "Restart the {product} service in the {city} region.",
    "What is the weather forecast for {city} this weekend?",
    "Add {n_small} packs of {item} to my shopping list.",
    "Turn off the lights in the {room} at {hour} PM.",
    "My order of {n_small} {item} has not arrived yet.",
    "Please upgrade my {product} plan to the business tier.",
    "Call {person} on the mobile phone after {hour} PM.",
    "Book a flight from {city} to {city2} for {n_small} people.",
    "The {product} invoice for {month} is {n_money} dollars.",
    "Cancel my subscription to {product} at the end of the month.",
    "Move the {product} release to {day} the {ordinal} of {month}.",
    "Set the thermostat in the {room} to {temp} degrees.",
    "Send a message to {person} saying I will be ten minutes late.",
    "How many support tickets did {product} receive last {day}?",
    "Play some quiet music in the {room} for {n_small} minutes.",
    "Reset the password for the {product} admin account.",
    "Increase the storage limit on {product} to {n_gb} gigabytes.",
    "Navigate to the nearest gas station in {city}.",
    "Read me the last three emails from {person}.",
    "Pay the electricity bill of {n_money} dollars before {day}.",
)


def _fill(template: str, rng: random.Random) -> str:
    city, city2 = rng.sample(CITIES, 2)
    return template.format(
        n_small=rng.randint(2, 45), n_money=rng.choice((25, 40, 75, 120, 250, 350, 480, 900, 1200)),
        n_gb=rng.choice((50, 100, 200, 500)), person=rng.choice(PEOPLE), product=rng.choice(PRODUCTS),
        city=city, city2=city2, month=rng.choice(MONTHS), day=rng.choice(DAYS),
        ordinal=rng.choice(ORDINALS), hour=rng.randint(1, 11), item=rng.choice(ITEMS),
        room=rng.choice(ROOMS), temp=rng.randint(62, 76),
    )


def plan(n: int = N_UTTERANCES, seed: int = SEED) -> list[dict]:
    """The utterance list (id, text, voice, rate): pure, so the plan itself is testable."""
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        text = _fill(TEMPLATES[len(rows) % len(TEMPLATES)], rng)
        if text in seen:
            continue
        seen.add(text)
        i = len(rows)
        rows.append({"id": f"g{i:04d}", "text": text, "voice": VOICES[i % len(VOICES)],
                     "rate_wpm": RATES_WPM[(i // len(VOICES)) % len(RATES_WPM)]})
    return rows


def synthesize(text: str, voice: str, rate_wpm: int) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng); it is needed only to regenerate")
    wav = subprocess.run([exe, "-v", voice, "-s", str(rate_wpm), "--stdout", text],
                         check=True, capture_output=True).stdout
    audio, rate = sf.read(io.BytesIO(wav), dtype="float64")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    g = np.gcd(SAMPLE_RATE, rate)
    audio = resample_poly(audio, SAMPLE_RATE // g, rate // g)
    active = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    margin = int(MARGIN_S * SAMPLE_RATE)
    audio = np.pad(audio[active[0]: active[-1] + 1], margin)  # the same lead-in and tail for every voice
    audio = audio / np.abs(audio).max() * PEAK
    # Quantize here so the written FLAC and the in-memory samples are the same numbers.
    return np.round(audio * 32767).astype(np.int16)


def generate(out_dir: Path = GOLDEN_DIR, n: int = N_UTTERANCES, check: bool = False) -> int:
    import soundfile as sf
    from tqdm import tqdm

    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    lines, mismatches = [], 0
    for row in tqdm(plan(n), desc="golden set", unit="utt"):
        pcm = synthesize(row["text"], row["voice"], row["rate_wpm"])
        rel = f"audio/{row['id']}.flac"
        if check:
            on_disk, _ = sf.read(out_dir / rel, dtype="int16")
            mismatches += int(on_disk.shape != pcm.shape or not np.array_equal(on_disk, pcm))
        else:
            sf.write(out_dir / rel, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        lines.append({"audio_filepath": rel, "duration": round(len(pcm) / SAMPLE_RATE, 4),
                      "text": row["text"], **{k: row[k] for k in ("id", "voice", "rate_wpm")}})
    manifest = "".join(json.dumps(line) + "\n" for line in lines)
    if check:
        same = (out_dir / "manifest.jsonl").read_text() == manifest
        print(f"{mismatches} audio mismatches; manifest {'identical' if same else 'DIFFERS'}")
        return 0 if (mismatches == 0 and same) else 1
    (out_dir / "manifest.jsonl").write_text(manifest)
    total = sum(line["duration"] for line in lines)
    size = sum(p.stat().st_size for p in audio_dir.glob("*.flac"))
    print(f"{len(lines)} utterances, {total / 60:.1f} min, {size / 1e6:.1f} MB FLAC in {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_DIR)
    parser.add_argument("-n", type=int, default=N_UTTERANCES)
    parser.add_argument("--check", action="store_true", help="verify the files on disk instead of writing")
    args = parser.parse_args(argv)
    return generate(args.out, args.n, args.check)


if __name__ == "__main__":
    sys.exit(main())
