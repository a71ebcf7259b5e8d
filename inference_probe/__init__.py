"""The reference inference probe: a known model on known labeled audio, reporting WER,
confidence, SNR and latency per slice to the collector (see DESIGN.md, `asrwatch probe`).

Entry points: `inference_probe.run.run_probe(...)` (Python), `asrwatch probe` and
`asrwatch probe-serve` (CLI, in `inference_probe.cli`). Heavy dependencies (torch,
openai-whisper, transformers) are imported only by the modules that need them.
"""
