"""Small PaliGemma-architecture configs built in code (no download): tests, the bundled policy, presets.

The architecture is exactly transformers' `PaliGemmaForConditionalGeneration` (SigLIP vision tower + Gemma
decoder), so everything that runs on these runs unchanged on a pi0-FAST-sized model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration, SiglipVisionConfig

from mgselect_node.tokenization.text_tokenizer import IMAGE_ID, PAD_ID


@dataclass(frozen=True)
class ModelDims:
    """The few numbers that size a PaliGemma-style VLA."""

    image_size: int = 64
    patch_size: int = 16
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 128
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    kv_heads: int = 1
    head_dim: int = 64
    intermediate: int = 512


TINY = ModelDims()
# TINY with 8 px patches: 64 image tokens instead of 16, so a pad (about 7 px at 64 px) falls mostly inside one
# patch and the colour word can attend to the token that holds it.
TINY_PATCH8 = ModelDims(patch_size=8)
# pi0-FAST: SigLIP So400m/14 at 224 px + Gemma 2B (PaliGemma 3B); random weights for GPU benchmarks only.
PI0FAST = ModelDims(image_size=224, patch_size=14, vision_hidden=1152, vision_layers=27, vision_heads=16,
                    vision_intermediate=4304, hidden=2048, layers=18, heads=8, kv_heads=1, head_dim=256,
                    intermediate=16384)
PRESETS = {"tiny": TINY, "tiny_patch8": TINY_PATCH8, "pi0fast": PI0FAST}


def build_config(vocab_size: int, dims: ModelDims = TINY) -> PaliGemmaConfig:
    """A PaliGemma config whose text vocabulary is `vocab_size` (text tokens + action tokens)."""
    vision = SiglipVisionConfig(
        hidden_size=dims.vision_hidden, intermediate_size=dims.vision_intermediate,
        num_hidden_layers=dims.vision_layers, num_attention_heads=dims.vision_heads,
        image_size=dims.image_size, patch_size=dims.patch_size, vision_use_head=False,
    )
    text = GemmaConfig(
        vocab_size=vocab_size, hidden_size=dims.hidden, intermediate_size=dims.intermediate,
        num_hidden_layers=dims.layers, num_attention_heads=dims.heads, num_key_value_heads=dims.kv_heads,
        head_dim=dims.head_dim, pad_token_id=PAD_ID, max_position_embeddings=4096,
    )
    return PaliGemmaConfig(
        vision_config=vision, text_config=text, image_token_index=IMAGE_ID, vocab_size=vocab_size,
        projection_dim=dims.hidden, hidden_size=dims.hidden,
    )


def build_model(config: PaliGemmaConfig, seed: int = 0) -> PaliGemmaForConditionalGeneration:
    """Random-initialised model, deterministic for a seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PaliGemmaForConditionalGeneration(config)
    return model.eval()


def image_tokens_per_camera(config: PaliGemmaConfig) -> int:
    return (config.vision_config.image_size // config.vision_config.patch_size) ** 2
