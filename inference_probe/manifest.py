"""NeMo-style JSONL manifests: one utterance per line with `audio_filepath`, `duration`, `text`.

Relative audio paths resolve against the manifest's folder, so a golden set can move.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

GOLDEN_MANIFEST = Path(__file__).resolve().parent / "golden" / "manifest.jsonl"


class ManifestError(ValueError):
    """The manifest is missing or a line is malformed (the message names file, line and field)."""


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    audio_path: Path
    duration: float
    text: str
    extra: dict


def parse_manifest_lines(lines: list[str], base_dir: Path, source: str = "<manifest>") -> list[Utterance]:
    utterances: list[Utterance] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source} line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        for key, kind in (("audio_filepath", str), ("text", str), ("duration", (int, float))):
            if key not in row:
                raise ManifestError(f"{where}: missing field {key!r}")
            if not isinstance(row[key], kind) or isinstance(row[key], bool):
                raise ManifestError(f"{where}: field {key!r} has the wrong type ({type(row[key]).__name__})")
        if row["duration"] <= 0:
            raise ManifestError(f"{where}: field 'duration' must be > 0, got {row['duration']}")
        path = Path(row["audio_filepath"])
        path = path if path.is_absolute() else base_dir / path
        utt_id = str(row.get("id") or Path(row["audio_filepath"]).stem)
        if utt_id in seen:
            raise ManifestError(f"{where}: duplicate utterance id {utt_id!r}")
        seen.add(utt_id)
        extra = {k: v for k, v in row.items() if k not in ("audio_filepath", "duration", "text", "id")}
        utterances.append(Utterance(utt_id, path, float(row["duration"]), row["text"], extra))
    if not utterances:
        raise ManifestError(f"{source}: the manifest has no utterances")
    return utterances


def load_manifest(path: str | Path | None = None, limit: int | None = None) -> list[Utterance]:
    """Read a manifest (the bundled golden set when `path` is None); `limit` keeps the first N."""
    path = Path(path) if path is not None else GOLDEN_MANIFEST
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}")
    utterances = parse_manifest_lines(path.read_text(encoding="utf-8").splitlines(), path.parent, str(path))
    if limit is not None:
        if limit < 1:
            raise ManifestError(f"limit must be >= 1, got {limit}")
        utterances = utterances[:limit]
    return utterances


def manifest_sha256(path: str | Path | None = None) -> str:
    path = Path(path) if path is not None else GOLDEN_MANIFEST
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audio_sha256(utterances: list[Utterance]) -> str:
    """One hash over the audio bytes of the utterances used, in manifest order."""
    digest = hashlib.sha256()
    for utt in utterances:
        digest.update(utt.utt_id.encode() + b"\0")
        digest.update(hashlib.sha256(utt.audio_path.read_bytes()).digest())
    return digest.hexdigest()
