"""Policy bundles: a local directory holding everything one policy needs, loaded with clear errors.

    <bundle>/
      policy.yaml          PolicySpec: cameras, image size, joints, stats, horizon, rate, action mode, prompt
      config.json          transformers PaliGemmaConfig
      model.safetensors    weights
      tokenizer.json       text tokenizer (prompt)
      action_tokenizer/    FAST or uniform-bin action tokenizer

Token layout in the model vocabulary: text ids first, action ids at the top, as pi0-FAST does: action id k is
model id `vocab_size - 1 - k` (model/token_layout.py). This is the "mgselect" format of model/formats/; other
checkpoint formats are adapters that produce the same PolicyBundle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration

from mgselect_node.errors import BundleError
from mgselect_node.model.formats import AUTO, LoadOptions, load_policy_dir
from mgselect_node.model.images import preprocess_images
from mgselect_node.model.presets import image_tokens_per_camera
from mgselect_node.model.spec import PolicySpec
from mgselect_node.model.token_layout import TokenLayout
from mgselect_node.tokenization.action_tokenizer import ActionTokenizer, load_action_tokenizer
from mgselect_node.tokenization.normalization import QuantileNormalizer
from mgselect_node.tokenization.prompt import PromptBuilder
from mgselect_node.tokenization.text_tokenizer import load_text_tokenizer, save_text_tokenizer

POLICY_FILE = "policy.yaml"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TEXT_TOKENIZER_FILE = "tokenizer.json"
ACTION_TOKENIZER_DIR = "action_tokenizer"
BUILTIN_PACKAGE = "mgselect_node.policies"
# What `default` means: the bundle the demo and the default config use.
DEFAULT_ALIAS_FILE = "DEFAULT"
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class PolicyBundle:
    """A loaded policy, whatever its checkpoint format: the model and the processors around it. The format
    adapter fills every field; the engine reads token ids, prompts and stats only from here."""

    path: Path
    spec: PolicySpec
    model: PaliGemmaForConditionalGeneration
    text_tokenizer: object  # tokenizers.Tokenizer
    action_tokenizer: ActionTokenizer
    state_normalizer: QuantileNormalizer
    action_normalizer: QuantileNormalizer
    layout: TokenLayout
    prompts: PromptBuilder
    # frames, camera names, size -> (cameras, 3, size, size) float32 in [-1, 1]: the format's resampling
    images: Callable[[Sequence[np.ndarray], Sequence[str], int], np.ndarray] = preprocess_images


def native_prompts(text_tokenizer: object, spec: PolicySpec, config: PaliGemmaConfig) -> PromptBuilder:
    """The prompt builder of this format: spec.prompt_format, one <image> slot per image token per camera."""
    return PromptBuilder(text_tokenizer, spec.prompt_format, state_dim=spec.state_dim,
                         image_tokens=image_tokens_per_camera(config) * len(spec.camera_names))


def builtin_names() -> list[str]:
    root = resources.files(BUILTIN_PACKAGE)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / POLICY_FILE).is_file())


def resolve_policy_path(name_or_path: str) -> Path:
    """A directory path, or a built-in bundle name ('default' follows policies/DEFAULT)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    root = Path(str(resources.files(BUILTIN_PACKAGE)))
    name = name_or_path
    if name == "default":
        name = (root / DEFAULT_ALIAS_FILE).read_text().strip()
    if (root / name).is_dir():
        return root / name
    raise BundleError(
        f"policy {name_or_path!r}: not a directory and not a built-in bundle (built-ins: {builtin_names()})")


def _require(path: Path, part: str) -> Path:
    target = path / part
    if not target.exists():
        raise BundleError(f"policy bundle {path}: missing {part}")
    return target


def load_spec(path: Path) -> PolicySpec:
    try:
        data = yaml.safe_load(_require(path, POLICY_FILE).read_text())
    except yaml.YAMLError as exc:
        raise BundleError(f"policy bundle {path}: {POLICY_FILE} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"policy bundle {path}: {POLICY_FILE} must be a mapping")
    return PolicySpec.from_dict(data)


def load_bundle(name_or_path: str, device: str = "cpu", dtype: str = "float32",
                policy_format: str = AUTO, options: LoadOptions | None = None) -> PolicyBundle:
    """A directory or built-in name, loaded by its checkpoint format's adapter (detected unless named)."""
    return load_policy_dir(resolve_policy_path(name_or_path), policy_format, device, dtype, options)


def load_native_bundle(path: Path, device: str = "cpu", dtype: str = "float32") -> PolicyBundle:
    """Load and cross-check every part; the error names the part that is missing or inconsistent."""
    spec = load_spec(path)
    try:
        config = PaliGemmaConfig.from_dict(json.loads(_require(path, CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise BundleError(f"policy bundle {path}: {CONFIG_FILE} is not a valid PaliGemma config: {exc}") from exc
    weights = _require(path, WEIGHTS_FILE)
    try:
        state_dict = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError) on corrupt files
        raise BundleError(f"policy bundle {path}: {WEIGHTS_FILE} is unreadable or corrupt: {exc}") from exc
    _require(path, TEXT_TOKENIZER_FILE)
    text_tokenizer = load_text_tokenizer(path)
    action_tokenizer = load_action_tokenizer(_require(path, ACTION_TOKENIZER_DIR))

    vocab_size = config.text_config.vocab_size
    layout = TokenLayout(vocab_size, action_tokenizer.vocab_size)
    if text_tokenizer.get_vocab_size() > layout.first_action_model_id:
        raise BundleError(
            f"policy bundle {path}: text tokenizer ({text_tokenizer.get_vocab_size()} ids) overlaps the "
            f"{action_tokenizer.vocab_size} action ids at the top of the {vocab_size}-id model vocabulary")
    if (action_tokenizer.horizon, action_tokenizer.action_dim) != (spec.horizon, spec.action_dim):
        raise BundleError(
            f"policy bundle {path}: action tokenizer is for {action_tokenizer.horizon}x{action_tokenizer.action_dim}"
            f" chunks but {POLICY_FILE} says horizon {spec.horizon}, action_dim {spec.action_dim}")
    if config.vision_config.image_size != spec.image_size:
        raise BundleError(f"policy bundle {path}: {CONFIG_FILE} image_size {config.vision_config.image_size} "
                          f"!= {POLICY_FILE} image_size {spec.image_size}")

    model = PaliGemmaForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise BundleError(f"policy bundle {path}: {WEIGHTS_FILE} does not match {CONFIG_FILE} "
                          f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.tie_weights()
    model = model.to(device=device, dtype=TORCH_DTYPES[dtype]).eval()
    return PolicyBundle(
        path=path, spec=spec, model=model, text_tokenizer=text_tokenizer, action_tokenizer=action_tokenizer,
        state_normalizer=QuantileNormalizer(spec.state_q01, spec.state_q99),
        action_normalizer=QuantileNormalizer(spec.action_q01, spec.action_q99), layout=layout,
        prompts=native_prompts(text_tokenizer, spec, config))


def save_bundle(path: Path, spec: PolicySpec, model: PaliGemmaForConditionalGeneration, text_tokenizer,
                action_tokenizer: ActionTokenizer, weights_dtype: str = "float32") -> Path:
    """Write a bundle directory that `load_bundle` reads back.

    weights_dtype: storage dtype of model.safetensors (float16 halves a shipped bundle); `load_bundle`
    casts to whatever dtype is requested at load time (load_state_dict copies across dtypes).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / POLICY_FILE).write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    (path / CONFIG_FILE).write_text(model.config.to_json_string())
    state = {k: v.detach().to(TORCH_DTYPES[weights_dtype]).contiguous() for k, v in model.state_dict().items()
             if k != "lm_head.weight"}
    save_file(state, str(path / WEIGHTS_FILE))
    save_text_tokenizer(text_tokenizer, path)
    action_tokenizer.save(path / ACTION_TOKENIZER_DIR)
    return path
