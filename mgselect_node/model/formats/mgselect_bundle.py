"""The project's own bundle format (policy.yaml + config.json + model.safetensors + tokenizers)."""

from __future__ import annotations

from pathlib import Path

from mgselect_node.model import bundle
from mgselect_node.model.formats import ModelFormat, register


def _detect(path: Path) -> bool:
    return (path / bundle.POLICY_FILE).is_file()


FORMAT = register(ModelFormat(
    name="mgselect", description="mgselect_node policy bundle (policy.yaml, config.json, model.safetensors)",
    detect=_detect, load=lambda path, device, dtype, _options: bundle.load_native_bundle(path, device, dtype),
    priority=0))
