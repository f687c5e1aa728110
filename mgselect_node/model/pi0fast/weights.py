"""pi0-FAST weights (LeRobot or openpi safetensors) onto the installed transformers' PaliGemma.

Why our own loader: LeRobot and openpi prefix the PaliGemma names (`model.paligemma_with_expert.paligemma.`,
`paligemma_with_expert.paligemma.`), older transformers wrote the vision tower as `vision_tower.vision_model.*`
and the decoder as `language_model.model.*`, and LeRobot's `lm_head` is not tied to `embed_tokens`. The sizes
are not in any config (LeRobot hard-codes Gemma 2B + SigLIP So400m), so they are read from tensor shapes:
tiny synthetic checkpoints load through exactly the code real ones do.

Memory: the model is built on the meta device (no allocation), then each tensor is read from the
memory-mapped file, converted to the requested dtype and device one at a time and assigned in place, so
there is never a second full copy of the weights.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration, SiglipVisionConfig

from mgselect_node.errors import BundleError

PREFIXES = ("model.paligemma_with_expert.paligemma.", "paligemma_with_expert.paligemma.")
# Older transformers names (and openpi's converter) -> the 5.x layout, before the vision-tower rename.
LEGACY_NAMES = (("language_model.model.", "model.language_model."), ("language_model.lm_head.", "lm_head."),
                ("vision_tower.", "model.vision_tower."), ("multi_modal_projector.", "model.multi_modal_projector."))
VISION_INNER = "model.vision_tower.vision_model."
VISION_OUTER = "model.vision_tower."
# Parameters that only flow-matching pi0 / pi0.5 checkpoints hold (action expert, time and state MLPs).
FLOW_MATCHING_MARKERS = ("gemma_expert", "action_in_proj", "action_out_proj", "action_time_mlp", "time_mlp_in",
                         "state_proj")
EMBED = "model.language_model.embed_tokens.weight"
LM_HEAD = "lm_head.weight"
# Shapes do not give SigLIP's head count: So400m has head_dim 72, base/large 64.
SIGLIP_HEAD_DIMS = (72, 64)
MAX_LISTED = 12


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: str


def read_header(path: Path) -> dict[str, TensorInfo]:
    """Tensor names, shapes and dtypes from a safetensors header (reads a few KB, no tensor data)."""
    try:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > 100_000_000:
                raise ValueError(f"header of {size} bytes")
            header = json.loads(handle.read(size))
    except (OSError, ValueError, struct.error) as exc:
        raise BundleError(f"{path}: not a readable safetensors file ({exc})") from exc
    return {name: TensorInfo(tuple(item["shape"]), item["dtype"]) for name, item in header.items()
            if name != "__metadata__"}


def refuse_flow_matching(names: list[str], path: Path) -> None:
    """pi0 / pi0.5 produce actions by flow matching: there is no token distribution to select with."""
    marked = sorted({m for name in names for m in FLOW_MATCHING_MARKERS if m in name})
    if marked:
        raise BundleError(f"{path}: this is a flow-matching pi0 / pi0.5 checkpoint (it holds {marked}); "
                          "MG-Select needs an autoregressive FAST policy (pi0-FAST)")


def canonical_name(name: str) -> str:
    """Checkpoint name -> transformers 5.x PaliGemma name (prefix stripped, legacy names updated)."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if not name.startswith(("model.", "lm_head.")):
        for old, new in LEGACY_NAMES:
            if name.startswith(old):
                return new + name[len(old):]
    return name


def map_names(names: list[str], targets: set[str]) -> tuple[dict[str, str], list[str]]:
    """checkpoint name -> installed model name, and the names that fit nothing (vision tower renamed either
    way, since its `vision_model.` level comes and goes between transformers versions)."""
    mapping: dict[str, str] = {}
    unexpected = []
    for name in names:
        target = canonical_name(name)
        if target not in targets and target.startswith(VISION_INNER):
            target = VISION_OUTER + target[len(VISION_INNER):]
        elif target not in targets and target.startswith(VISION_OUTER):
            target = VISION_INNER + target[len(VISION_OUTER):]
        if target in targets:
            mapping[name] = target
        else:
            unexpected.append(name)
    return mapping, unexpected


def _count_layers(shapes: dict[str, tuple[int, ...]], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for name in shapes if (m := pattern.match(name))}
    return max(found) + 1 if found else 0


def _shape(shapes: dict[str, tuple[int, ...]], name: str, path: Path) -> tuple[int, ...]:
    if name not in shapes:
        raise BundleError(f"{path}: missing tensor {name!r} (needed to size the model)")
    return shapes[name]


def config_from_shapes(infos: dict[str, TensorInfo], path: Path, image_token_index: int,
                       kv_heads: int = 1) -> PaliGemmaConfig:
    """A PaliGemmaConfig sized by the tensors. Gemma's key/value head count is not in the shapes: pi0-FAST's
    Gemma 2B (and 300M) use multi-query attention, so kv_heads defaults to 1 and head_dim = k_proj rows."""
    shapes = {canonical_name(n): info.shape for n, info in infos.items()}
    shapes |= {VISION_OUTER + n[len(VISION_INNER):]: s for n, s in shapes.items() if n.startswith(VISION_INNER)}
    text = "model.language_model."
    layer0 = text + "layers.0."
    rows, hidden = _shape(shapes, EMBED, path) if EMBED in shapes else _shape(shapes, LM_HEAD, path)
    head_dim = _shape(shapes, layer0 + "self_attn.k_proj.weight", path)[0] // kv_heads
    heads = _shape(shapes, layer0 + "self_attn.q_proj.weight", path)[0] // head_dim
    vision = VISION_OUTER
    v_hidden, _, patch, _ = _shape(shapes, vision + "embeddings.patch_embedding.weight", path)
    positions = _shape(shapes, vision + "embeddings.position_embedding.weight", path)[0]
    v_head_dim = next((d for d in SIGLIP_HEAD_DIMS if v_hidden % d == 0), v_hidden)
    vision_config = SiglipVisionConfig(
        hidden_size=v_hidden, patch_size=patch, image_size=round(positions ** 0.5) * patch,
        num_hidden_layers=_count_layers(shapes, vision + "encoder.layers."),
        num_attention_heads=v_hidden // v_head_dim,
        intermediate_size=_shape(shapes, vision + "encoder.layers.0.mlp.fc1.weight", path)[0],
        vision_use_head=any(n.startswith(vision + "head.") for n in shapes))
    text_config = GemmaConfig(
        vocab_size=rows, hidden_size=hidden, num_hidden_layers=_count_layers(shapes, text + "layers."),
        intermediate_size=_shape(shapes, layer0 + "mlp.gate_proj.weight", path)[0], num_attention_heads=heads,
        num_key_value_heads=kv_heads, head_dim=head_dim, hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=False, max_position_embeddings=8192)
    config = PaliGemmaConfig(vision_config=vision_config, text_config=text_config, vocab_size=rows,
                             image_token_index=image_token_index, projection_dim=hidden, hidden_size=hidden,
                             tie_word_embeddings=False)
    return config


def build_meta_model(config: PaliGemmaConfig) -> PaliGemmaForConditionalGeneration:
    """The model skeleton with no storage (meta device): names and shapes only."""
    with torch.device("meta"):
        return PaliGemmaForConditionalGeneration(config)


def check_names(infos: dict[str, TensorInfo], model: torch.nn.Module, path: Path) -> dict[str, str]:
    """checkpoint name -> model name for every tensor; BundleError listing missing / unexpected names."""
    targets = set(model.state_dict())
    mapping, unexpected = map_names(list(infos), targets)
    covered = set(mapping.values())
    if EMBED not in covered and LM_HEAD in covered:
        covered.add(EMBED)  # LeRobot: a file with lm_head only gets it copied into embed_tokens
    if LM_HEAD not in covered and EMBED in covered:
        covered.add(LM_HEAD)  # tied checkpoints: the head is the embedding
    missing = sorted(targets - covered)
    if missing or unexpected:
        raise BundleError(f"{path}: weights do not match a PaliGemma of the sizes they imply: "
                          f"missing {len(missing)} {missing[:MAX_LISTED]}, "
                          f"unexpected {len(unexpected)} {sorted(unexpected)[:MAX_LISTED]}")
    return mapping


def _restore_buffers(model: torch.nn.Module, device: torch.device) -> None:
    """Non-persistent buffers (rotary frequencies, position ids, embedding scale) are not in any file:
    rebuild the few modules that own them, on the target device."""
    for module in list(model.modules()):
        meta = [name for name, buf in module.named_buffers(recurse=False) if buf is not None and buf.is_meta]
        if not meta:
            continue
        if hasattr(module, "scalar_embed_scale"):
            module.embed_scale = torch.tensor(module.scalar_embed_scale, device=device)
            continue
        with torch.device(device):
            fresh = type(module)(config=module.config)
        for name in meta:
            setattr(module, name, getattr(fresh, name))


def load_weights(path: Path, config: PaliGemmaConfig, infos: dict[str, TensorInfo], device: str,
                 dtype: torch.dtype) -> PaliGemmaForConditionalGeneration:
    """Fill a meta-built model tensor by tensor from the memory-mapped file (see the module docstring)."""
    model = build_meta_model(config)
    mapping = check_names(infos, model, path)
    state: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for name, target in mapping.items():
                state[target] = handle.get_tensor(name).to(device=device, dtype=dtype)
    except Exception as exc:  # safetensors raises its own error types on truncated files
        raise BundleError(f"{path}: unreadable weights ({exc})") from exc
    state.setdefault(EMBED, state.get(LM_HEAD))
    state.setdefault(LM_HEAD, state[EMBED])
    model.load_state_dict(state, strict=True, assign=True)
    _restore_buffers(model, torch.device(device))
    return model.eval()
