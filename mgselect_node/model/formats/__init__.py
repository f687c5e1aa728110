"""Checkpoint formats: a registry of adapters that turn a policy directory into a PolicyBundle.

A format is one module in this package that calls `register(...)` at import time; every module here is
imported on first use, so adding a format means adding one file. `load_policy_dir` picks the format named by
the caller, or the first registered one whose `detect` accepts the directory.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mgselect_node.errors import BundleError

if TYPE_CHECKING:
    from mgselect_node.model.bundle import PolicyBundle

AUTO = "auto"


@dataclass(frozen=True)
class LoadOptions:
    """Extras a format may need that its directory does not hold (node parameters / CLI options): local
    tokenizer directories for checkpoints that name theirs by hub id. Formats that need none ignore them."""

    text_tokenizer: str = ""
    action_tokenizer: str = ""


@dataclass(frozen=True)
class ModelFormat:
    """name: what users write (`policy_format:`); detect: does this directory look like the format (cheap: file
    names and small JSON only); load: (path, device, dtype, options) -> PolicyBundle, errors as BundleError."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[[Path, str, str, LoadOptions], PolicyBundle]
    priority: int = 100  # lower is tried first by detection


_FORMATS: dict[str, ModelFormat] = {}
_discovered = False


def register(fmt: ModelFormat) -> ModelFormat:
    if fmt.name in _FORMATS or fmt.name == AUTO:
        raise ValueError(f"model format {fmt.name!r} is already registered")
    _FORMATS[fmt.name] = fmt
    return fmt


def formats() -> dict[str, ModelFormat]:
    """Every registered format, in detection order (importing this package's modules once)."""
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _discovered = True
    return dict(sorted(_FORMATS.items(), key=lambda item: (item[1].priority, item[0])))


def detect_format(path: Path) -> ModelFormat:
    for fmt in formats().values():
        if fmt.detect(path):
            return fmt
    raise BundleError(f"policy {path}: no known checkpoint format recognises this directory "
                      f"(known: {sorted(formats())})")


def get_format(name: str) -> ModelFormat:
    known = formats()
    if name not in known:
        raise BundleError(f"policy format {name!r} is unknown; known: {[AUTO, *sorted(known)]}")
    return known[name]


def load_policy_dir(path: Path, policy_format: str = AUTO, device: str = "cpu", dtype: str = "float32",
                    options: LoadOptions | None = None) -> PolicyBundle:
    fmt = detect_format(path) if policy_format == AUTO else get_format(policy_format)
    return fmt.load(path, device, dtype, options or LoadOptions())
