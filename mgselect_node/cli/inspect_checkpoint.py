"""`mgselect inspect PATH`: what a checkpoint directory is and what it needs, without loading its weights.

Reads only small files and the safetensors header, so it answers in seconds for a 3B checkpoint: format,
model sizes and parameter count, cameras, state/action dims, normalization, tokenizer vocabularies, decode
horizon and budget, memory for N = 1..16 candidates (MG-Select: N conditioned + N reference rows) on CPU and
GPU, and every problem found (each one the error loading would raise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from mgselect_node.errors import BundleError
from mgselect_node.model.formats import AUTO, LoadOptions, detect_format, formats, get_format
from mgselect_node.model.memory import estimate_decode_memory
from mgselect_node.model.pi0fast.assemble import Pi0FastParts, check_vocab
from mgselect_node.model.pi0fast.tokenizer_files import load_text_tokenizer
from mgselect_node.model.pi0fast.weights import (
    build_meta_model,
    check_names,
    config_from_shapes,
    read_header,
    refuse_flow_matching,
)
from mgselect_node.tokenization.fast_bytelevel import ByteLevelFastTokenizer

CANDIDATES = (1, 2, 4, 8, 16)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MIB = 1024**2
NATIVE_PROMPT_TOKENS = 64  # an instruction and a state in the project's own prompt format, generously


def _memory(config: Any, params: int, capacity: int) -> dict[str, dict[str, float]]:
    """MiB per dtype and N for one MG-Select call (2N rows): CPU = weights + KV cache + activations; GPU = what
    must be free on the device (the engine's own check: estimate x safety factor + reserve, plus weights)."""
    out = {}
    for name, dtype in DTYPES.items():
        weights = params * dtype.itemsize
        estimates = {n: estimate_decode_memory(config, 2 * n, capacity, dtype) for n in CANDIDATES}
        out[name] = {"weights": round(weights / MIB, 1),
                     "cpu": {f"N={n}": round((weights + e.total_bytes) / MIB, 1) for n, e in estimates.items()},
                     "gpu": {f"N={n}": round((weights + e.required_bytes) / MIB, 1) for n, e in estimates.items()}}
    return out


def describe_pi0fast(parts: Pi0FastParts) -> tuple[dict[str, Any], list[str]]:
    """Sizes and settings of a pi0-FAST checkpoint, and the problems that loading it would report."""
    problems: list[str] = []
    infos = read_header(parts.weights)
    report: dict[str, Any] = {
        "cameras": parts.cameras, "image_size": parts.image_size, "state_dim": parts.state_dim,
        "action_dim (model)": parts.action_dim, "action_dim (robot)": parts.robot_action_dim,
        "horizon": parts.horizon, "max_action_tokens": parts.max_action_tokens, "prompt_style": parts.style.name,
        "normalization": {"state": parts.state_normalizer.mode, "action": parts.action_normalizer.mode},
        "weights_dtypes": sorted({info.dtype for info in infos.values()}),
        "tokenizers": {"text": str(parts.text_tokenizer), "fast": str(parts.fast_tokenizer)}}
    try:
        refuse_flow_matching(list(infos), parts.weights)
        config = config_from_shapes(infos, parts.weights, image_token_index=0)
        check_names(infos, build_meta_model(config), parts.weights)
    except BundleError as exc:
        return report, [*problems, str(exc)]
    text, vision = config.text_config, config.vision_config
    params = sum(int(torch.Size(info.shape).numel()) for info in infos.values())
    report["model"] = {"parameters": params, "gemma": {"width": text.hidden_size, "layers": text.num_hidden_layers,
                       "mlp": text.intermediate_size, "heads": text.num_attention_heads, "head_dim": text.head_dim,
                       "embedding_rows": text.vocab_size},
                       "siglip": {"width": vision.hidden_size, "layers": vision.num_hidden_layers,
                                  "image_size": vision.image_size, "patch": vision.patch_size}}
    try:
        _, ids = load_text_tokenizer(parts.text_tokenizer)
        report["text_vocab"] = ids.vocab_size
        check_vocab(ids.vocab_size, text.vocab_size, parts.text_tokenizer)
    except BundleError as exc:
        problems.append(str(exc))
    try:
        report["fast_vocab"] = ByteLevelFastTokenizer.load(parts.fast_tokenizer, parts.horizon,
                                                           parts.action_dim).vocab_size
    except BundleError as exc:
        problems.append(str(exc))
    if vision.image_size != parts.image_size:
        problems.append(f"vision tower takes {vision.image_size} px, the config says {parts.image_size}")
    image_tokens = len(parts.cameras) * (vision.image_size // vision.patch_size) ** 2
    capacity = image_tokens + (parts.style.max_length or 256) + 8 + parts.max_action_tokens
    report["memory_mib"] = _memory(config, params, capacity)
    return report, problems


def inspect(path: Path, policy_format: str = AUTO, options: LoadOptions | None = None
            ) -> tuple[dict[str, Any], list[str]]:
    """(report, problems) for a checkpoint directory; problems is empty when it should load."""
    options = options or LoadOptions()
    try:
        fmt = detect_format(path) if policy_format == AUTO else get_format(policy_format)
    except BundleError as exc:
        return {"path": str(path), "format": None, "known_formats": sorted(formats())}, [str(exc)]
    report: dict[str, Any] = {"path": str(path), "format": fmt.name, "description": fmt.description}
    module = sys.modules[fmt.load.__module__]
    if not hasattr(module, "read_parts"):  # the project's own bundle: loading it is cheap
        try:
            bundle = fmt.load(path, "cpu", "float32", options)
        except BundleError as exc:
            return report, [str(exc)]
        config, spec = bundle.model.config, bundle.spec
        params = sum(p.numel() for p in bundle.model.parameters())
        capacity = len(spec.camera_names) * (spec.image_size // config.vision_config.patch_size) ** 2 + \
            NATIVE_PROMPT_TOKENS + spec.max_action_tokens
        return report | {"spec": spec.to_dict(), "model": {"parameters": params},
                         "memory_mib": _memory(config, params, capacity)}, []
    try:
        parts = module.read_parts(path, options)
    except BundleError as exc:
        return report, [str(exc)]
    details, problems = describe_pi0fast(parts)
    return report | details, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mgselect inspect", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="checkpoint directory")
    parser.add_argument("--format", default=AUTO, help=f"{AUTO} (detect) or one of {sorted(formats())}")
    parser.add_argument("--text-tokenizer", default="", help="local PaliGemma tokenizer directory")
    parser.add_argument("--action-tokenizer", default="", help="local FAST tokenizer directory")
    args = parser.parse_args(argv)
    report, problems = inspect(args.path, args.format, LoadOptions(args.text_tokenizer, args.action_tokenizer))
    print(json.dumps(report | {"problems": problems}, indent=2, default=str))
    return 1 if problems else 0
