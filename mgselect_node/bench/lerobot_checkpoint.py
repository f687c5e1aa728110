"""Write a model as a LeRobot `pi0_fast` policy directory, so a benchmark loads it the way a real one loads.

Why: `mgselect bench --preset pi0fast` must measure the path a user's checkpoint takes (the lerobot_pi0fast
adapter: memory-mapped weights under LeRobot's names, the PaliGemma token layout with `fast_skip_tokens`,
forced "Action: " tokens, the "|" terminator, byte-level FAST, bilinear images), not an in-memory shortcut.
The tokenizers are synthetic ones of the same structure (model/pi0fast/synthetic_tokenizers.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import PaliGemmaForConditionalGeneration

from mgselect_node.model.formats import LoadOptions
from mgselect_node.model.pi0fast import synthetic_tokenizers as synthetic
from mgselect_node.model.random_bundle import SYNTHETIC_CHUNKS, synthetic_chunks

PREFIX = "model.paligemma_with_expert.paligemma."
FAST_SCALE, FAST_MIN_TOKEN = 10.0, -354  # the published FAST processor's settings
TEXT_DIR, FAST_DIR, CHECKPOINT_DIR = "paligemma_tokenizer", "fast_tokenizer", "checkpoint"
# Text ids (specials, bytes, characters, words) below the FAST range; see synthetic_tokenizers.
TEXT_IDS = 600


def _weights(model: PaliGemmaForConditionalGeneration) -> dict[str, torch.Tensor]:
    """CPU tensors under LeRobot's names, lm_head stored on its own (LeRobot's head is untied)."""
    state = {}
    seen: set[int] = set()
    for name, tensor in model.state_dict().items():
        cpu = tensor.detach().to("cpu")
        if cpu.data_ptr() in seen:
            cpu = cpu.clone()
        seen.add(cpu.data_ptr())
        state[PREFIX + name] = cpu.contiguous()
    return state


def _config(cameras: Sequence[str], image_size: int, dim: int, horizon: int, max_tokens: int) -> dict:
    features = {f"observation.images.{c}": {"type": "VISUAL", "shape": [3, image_size, image_size]} for c in cameras}
    features["observation.state"] = {"type": "STATE", "shape": [dim]}
    return {"type": "pi0_fast", "input_features": features,
            "output_features": {"action": {"type": "ACTION", "shape": [dim]}}, "chunk_size": horizon,
            "n_action_steps": horizon, "max_decoding_steps": max_tokens, "image_resolution": [image_size] * 2,
            "tokenizer_max_length": 200, "fast_skip_tokens": 128, "text_tokenizer_name": TEXT_DIR,
            "action_tokenizer_name": FAST_DIR,
            "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"}}


def write_lerobot_checkpoint(out: Path, model: PaliGemmaForConditionalGeneration, *, cameras: Sequence[str],
                             dim: int, horizon: int, max_tokens: int, fast_vocab: int = 2048, seed: int = 0
                             ) -> tuple[Path, LoadOptions]:
    """out/checkpoint (config, weights, statistics) + out/<tokenizers>; returns the checkpoint and its options."""
    vocab = model.config.text_config.vocab_size
    fast_vocab = min(fast_vocab, vocab - TEXT_IDS - synthetic.LOC_TOKENS - synthetic.SEG_TOKENS)
    synthetic.save_text_tokenizer(synthetic.build_text_tokenizer(vocab), out / TEXT_DIR)
    chunks = synthetic_chunks(SYNTHETIC_CHUNKS, horizon, dim, seed=seed)
    fast = synthetic.build_fast_tokenizer(chunks, fast_vocab, FAST_SCALE, FAST_MIN_TOKEN)
    synthetic.save_fast_tokenizer(fast, out / FAST_DIR, FAST_SCALE, FAST_MIN_TOKEN)
    ckpt = out / CHECKPOINT_DIR
    ckpt.mkdir(parents=True, exist_ok=True)
    image_size = model.config.vision_config.image_size
    (ckpt / "config.json").write_text(json.dumps(_config(cameras, image_size, dim, horizon, max_tokens), indent=2))
    save_file(_weights(model), str(ckpt / "model.safetensors"))
    for name, feature in (("policy_preprocessor_step_3_normalizer_processor", "observation.state"),
                          ("policy_postprocessor_step_0_unnormalizer_processor", "action")):
        stats = {f"{feature}.mean": np.zeros(dim, np.float32), f"{feature}.std": np.full(dim, 0.5, np.float32)}
        save_file({k: torch.from_numpy(v) for k, v in stats.items()}, str(ckpt / f"{name}.safetensors"))
    return ckpt, LoadOptions(text_tokenizer=str(out / TEXT_DIR), action_tokenizer=str(out / FAST_DIR))
