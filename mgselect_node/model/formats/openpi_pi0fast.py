"""openpi pi0-FAST converted to PyTorch: `model.safetensors` + `assets/<asset_id>/norm_stats.json`.

    model.safetensors          paligemma_with_expert.paligemma.* (transformers PaliGemma names, any version)
    assets/<id>/norm_stats.json {"norm_stats": {"state": {"q01", "q99", ...}, "actions": {...}}}
    config.json (optional)     openpi model fields: action_dim, action_horizon, max_token_len; and ours:
                               cameras, image_size, asset_id, fast_skip_tokens, text_tokenizer, action_tokenizer

openpi's own checkpoints are Orbax (JAX); loading those needs JAX and is out of scope: convert to safetensors
first. Layout as openpi's pi0-FAST: lowercased prompt, one <bos>, the normalized state zero-padded to
action_dim before binning, quantile normalization (eps 1e-6), chunks of action_dim cut to the robot's
joints (the length of the action statistics), decode positions one past the prefix (openpi's gap).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mgselect_node.errors import BundleError
from mgselect_node.model.bundle import PolicyBundle
from mgselect_node.model.formats import LoadOptions, ModelFormat, register
from mgselect_node.model.pi0fast.assemble import Pi0FastParts, build_bundle
from mgselect_node.model.pi0fast.tokenizer_files import resolve_tokenizer_dir
from mgselect_node.model.pi0fast.weights import PREFIXES, read_header
from mgselect_node.tokenization.pi0fast_prompt import Pi0FastPromptStyle
from mgselect_node.tokenization.stats_normalizer import StatsNormalizer

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATS_GLOB = "assets/*/norm_stats.json"
# openpi Pi0FASTConfig defaults and its camera slots.
DEFAULTS: dict[str, Any] = {"action_dim": 32, "action_horizon": 32, "max_token_len": 250, "image_size": 224,
                            "cameras": ["base_0_rgb", "base_1_rgb", "wrist_0_rgb"], "fast_skip_tokens": 128,
                            "text_tokenizer": "google/paligemma-3b-pt-224",
                            "action_tokenizer": "physical-intelligence/fast"}


def _detect(path: Path) -> bool:
    weights = path / WEIGHTS
    if not weights.is_file() or not any(path.glob(STATS_GLOB)):
        return False
    try:
        names = list(read_header(weights))
    except BundleError:
        return False
    return any(name.startswith(PREFIXES[1]) for name in names)


def _settings(path: Path) -> dict[str, Any]:
    settings = dict(DEFAULTS)
    if (path / CONFIG).is_file():
        try:
            extra = json.loads((path / CONFIG).read_text())
        except ValueError as exc:
            raise BundleError(f"{path / CONFIG}: not valid JSON ({exc})") from exc
        settings |= {k: v for k, v in extra.items() if k in DEFAULTS or k == "asset_id"}
    return settings


def _norm_stats(path: Path, asset_id: str | None) -> dict[str, Any]:
    files = sorted(path.glob(STATS_GLOB))
    if asset_id is not None:
        files = [f for f in files if f.parent.name == asset_id]
    if len(files) != 1:
        raise BundleError(f"{path}: expected exactly one {STATS_GLOB}"
                          f"{'' if asset_id is None else f' for asset_id {asset_id!r}'}, found "
                          f"{[str(f.relative_to(path)) for f in files]} (name one with asset_id in {CONFIG})")
    try:
        stats = json.loads(files[0].read_text())["norm_stats"]
        return {"state": stats["state"], "actions": stats["actions"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{files[0]}: expected {{'norm_stats': {{'state': ..., 'actions': ...}}}} ({exc})") from exc


def read_parts(path: Path, options: LoadOptions) -> Pi0FastParts:
    if not (path / WEIGHTS).is_file():
        raise BundleError(f"{path}: missing {WEIGHTS} (Orbax params/ need converting to safetensors first)")
    settings = _settings(path)
    stats = _norm_stats(path, settings.get("asset_id"))
    state = StatsNormalizer("openpi_quantiles", stats["state"])
    actions = StatsNormalizer("openpi_quantiles", stats["actions"])
    action_dim = int(settings["action_dim"])
    if max(state.dim, actions.dim) > action_dim:
        raise BundleError(f"{path}: statistics have {state.dim} state / {actions.dim} action values, more than "
                          f"action_dim {action_dim}")
    return Pi0FastParts(
        name=path.name, weights=path / WEIGHTS,
        text_tokenizer=resolve_tokenizer_dir("text tokenizer", options.text_tokenizer, settings["text_tokenizer"]),
        fast_tokenizer=resolve_tokenizer_dir("FAST action tokenizer", options.action_tokenizer,
                                             settings["action_tokenizer"]),
        cameras=list(settings["cameras"]), image_size=int(settings["image_size"]), state_dim=state.dim,
        action_dim=action_dim, robot_action_dim=actions.dim, horizon=int(settings["action_horizon"]),
        max_action_tokens=int(settings["max_token_len"]), fast_skip_tokens=int(settings["fast_skip_tokens"]),
        style=Pi0FastPromptStyle("openpi", lowercase=True, trailing_bos=False,
                                 max_length=int(settings["max_token_len"]), state_width=action_dim,
                                 position_gap=1),
        state_normalizer=state, action_normalizer=actions)


def load(path: Path, device: str, dtype: str, options: LoadOptions) -> PolicyBundle:
    return build_bundle(path, read_parts(path, options), device, dtype)


FORMAT = register(ModelFormat(
    name="openpi_pi0fast", description="openpi pi0-FAST as PyTorch safetensors + assets/*/norm_stats.json",
    detect=_detect, load=load, priority=20))
