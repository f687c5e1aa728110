"""LeRobot `pi0_fast` policy directories (`save_pretrained` of the policy and its processors).

    config.json                                       "type": "pi0_fast", features, horizon, tokenizer names
    model.safetensors                                 model.paligemma_with_expert.paligemma.* weights
    policy_preprocessor_step_*_normalizer_processor.safetensors     observation.state.mean / .std / ...
    policy_postprocessor_step_*_unnormalizer_processor.safetensors  action.mean / .std / ...

Reproduces LeRobot 0.6.1's inference (checked against LeRobot itself by tests/model/pi0fast/): cameras in
`input_features` order, bilinear resize-with-pad, prompt with a second <bos>, normalization per
`normalization_mapping`, decode horizon `n_action_steps`, chunk width = the action feature's size.
A LeRobot pi0 / pi0.5 directory is refused (flow matching: nothing to select among).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.numpy import load_file

from mgselect_node.errors import BundleError
from mgselect_node.model.bundle import PolicyBundle
from mgselect_node.model.formats import LoadOptions, ModelFormat, register
from mgselect_node.model.pi0fast.assemble import Pi0FastParts, build_bundle
from mgselect_node.model.pi0fast.tokenizer_files import resolve_tokenizer_dir
from mgselect_node.tokenization.pi0fast_prompt import Pi0FastPromptStyle
from mgselect_node.tokenization.stats_normalizer import StatsNormalizer

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TYPES = ("pi0_fast", "pi0", "pi05")
IMAGE_PREFIX = "observation.images."
STATE, ACTION = "observation.state", "action"
STATS_FILES = {STATE: "policy_preprocessor_step_*_normalizer_processor.safetensors",
               ACTION: "policy_postprocessor_step_*_unnormalizer_processor.safetensors"}
MODES = {"MEAN_STD": "mean_std", "QUANTILES": "quantiles", "MIN_MAX": "min_max", "QUANTILE10": "quantile10",
         "IDENTITY": "identity"}


def read_config(path: Path) -> dict[str, Any] | None:
    """config.json as a dict, or None when absent / not JSON (detection must not raise)."""
    try:
        data = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _detect(path: Path) -> bool:
    config = read_config(path)
    return config is not None and config.get("type") in TYPES


def _field(config: dict[str, Any], key: str, path: Path) -> Any:
    if key not in config:
        raise BundleError(f"{path / CONFIG}: missing {key!r}")
    return config[key]


def _normalizer(path: Path, config: dict[str, Any], feature: str, kind: str) -> StatsNormalizer:
    """The feature's statistics from the processor files, in the mode config.json names for its kind."""
    mode = MODES.get(str(config.get("normalization_mapping", {}).get(kind, "MEAN_STD")))
    if mode is None:
        raise BundleError(f"{path / CONFIG}: normalization {config['normalization_mapping'][kind]!r} for {kind} "
                          f"is not supported; expected one of {sorted(MODES)}")
    if mode == "identity":
        return StatsNormalizer("identity", {})
    files = sorted(path.glob(STATS_FILES[feature]))
    if not files:
        raise BundleError(f"{path}: no {STATS_FILES[feature]} (the {feature} statistics)")
    tensors = load_file(str(files[0]))
    stats = {key[len(feature) + 1:]: value for key, value in tensors.items() if key.startswith(feature + ".")}
    try:
        return StatsNormalizer(mode, stats)
    except BundleError as exc:
        raise BundleError(f"{files[0]}: {exc}") from exc


def read_parts(path: Path, options: LoadOptions) -> Pi0FastParts:
    """Everything build_bundle needs, from the directory's own files and the tokenizer locations."""
    config = read_config(path)
    if config is None:
        raise BundleError(f"{path}: missing or unreadable {CONFIG}")
    if config.get("type") != "pi0_fast":
        raise BundleError(f"{path}: LeRobot policy type {config.get('type')!r} is a flow-matching pi0 / pi0.5 "
                          "policy; MG-Select needs an autoregressive FAST policy (type 'pi0_fast')")
    if config.get("use_relative_actions") or config.get("empty_cameras"):
        raise BundleError(f"{path / CONFIG}: use_relative_actions / empty_cameras are not supported")
    if not (path / WEIGHTS).is_file():
        raise BundleError(f"{path}: missing {WEIGHTS}")
    inputs = _field(config, "input_features", path)
    cameras = [key[len(IMAGE_PREFIX):] for key, feat in inputs.items()
               if key.startswith(IMAGE_PREFIX) and feat.get("type") == "VISUAL"]
    if not cameras or STATE not in inputs:
        raise BundleError(f"{path / CONFIG}: input_features need cameras ({IMAGE_PREFIX}*) and {STATE}")
    height, width = _field(config, "image_resolution", path)
    if height != width:
        raise BundleError(f"{path / CONFIG}: image_resolution {height}x{width}; only square images are supported")
    action_dim = int(_field(config, "output_features", path)[ACTION]["shape"][0])
    state_dim = int(inputs[STATE]["shape"][0])
    return Pi0FastParts(
        name=path.name, weights=path / WEIGHTS,
        text_tokenizer=resolve_tokenizer_dir("text tokenizer", options.text_tokenizer,
                                             config.get("text_tokenizer_name")),
        fast_tokenizer=resolve_tokenizer_dir("FAST action tokenizer", options.action_tokenizer,
                                             config.get("action_tokenizer_name")),
        cameras=cameras, image_size=int(height), state_dim=state_dim, action_dim=action_dim,
        robot_action_dim=action_dim, horizon=int(_field(config, "n_action_steps", path)),
        max_action_tokens=int(config.get("max_decoding_steps", 256)),
        fast_skip_tokens=int(config.get("fast_skip_tokens", 128)),
        style=Pi0FastPromptStyle("lerobot", lowercase=False, trailing_bos=True,
                                 max_length=int(config.get("tokenizer_max_length", 200))),
        state_normalizer=_normalizer(path, config, STATE, "STATE"),
        action_normalizer=_normalizer(path, config, ACTION, "ACTION"))


def load(path: Path, device: str, dtype: str, options: LoadOptions) -> PolicyBundle:
    return build_bundle(path, read_parts(path, options), device, dtype)


FORMAT = register(ModelFormat(
    name="lerobot_pi0fast", description="LeRobot pi0_fast policy directory (config.json type pi0_fast)",
    detect=_detect, load=load, priority=10))
