"""Weight names and sizes: every key of a full-size LeRobot pi0-FAST maps (meta device, nothing allocated)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mgselect_node.errors import BundleError
from mgselect_node.model.pi0fast.weights import (
    build_meta_model,
    canonical_name,
    check_names,
    config_from_shapes,
    read_header,
    refuse_flow_matching,
)

LEROBOT = "model.paligemma_with_expert.paligemma."
# Gemma 2B and SigLIP So400m/14 at 224, as LeRobot 0.6.1 hard-codes them (vocab 257152 rows).
WIDTH, MLP, HEAD_DIM, HEADS, LAYERS, VOCAB = 2048, 16384, 256, 8, 18, 257152
V_WIDTH, V_MLP, V_LAYERS, PATCH, POSITIONS = 1152, 4304, 27, 14, 256


def lerobot_shapes() -> dict[str, list[int]]:
    """The names a LeRobot pi0_fast model.safetensors holds (as in tests/data's checkpoint), full size."""
    text, vision = LEROBOT + "model.language_model.", LEROBOT + "model.vision_tower.vision_model."
    shapes = {LEROBOT + "lm_head.weight": [VOCAB, WIDTH], text + "embed_tokens.weight": [VOCAB, WIDTH],
              text + "norm.weight": [WIDTH], LEROBOT + "model.multi_modal_projector.linear.weight": [WIDTH, V_WIDTH],
              LEROBOT + "model.multi_modal_projector.linear.bias": [WIDTH],
              vision + "embeddings.patch_embedding.weight": [V_WIDTH, 3, PATCH, PATCH],
              vision + "embeddings.patch_embedding.bias": [V_WIDTH],
              vision + "embeddings.position_embedding.weight": [POSITIONS, V_WIDTH],
              vision + "post_layernorm.weight": [V_WIDTH], vision + "post_layernorm.bias": [V_WIDTH]}
    for i in range(LAYERS):
        layer = f"{text}layers.{i}."
        shapes |= {layer + "self_attn.q_proj.weight": [HEADS * HEAD_DIM, WIDTH],
                   layer + "self_attn.k_proj.weight": [HEAD_DIM, WIDTH],
                   layer + "self_attn.v_proj.weight": [HEAD_DIM, WIDTH],
                   layer + "self_attn.o_proj.weight": [WIDTH, HEADS * HEAD_DIM],
                   layer + "mlp.gate_proj.weight": [MLP, WIDTH], layer + "mlp.up_proj.weight": [MLP, WIDTH],
                   layer + "mlp.down_proj.weight": [WIDTH, MLP], layer + "input_layernorm.weight": [WIDTH],
                   layer + "post_attention_layernorm.weight": [WIDTH]}
    for i in range(V_LAYERS):
        layer = f"{vision}encoder.layers.{i}."
        for norm in ("layer_norm1", "layer_norm2"):
            shapes |= {layer + f"{norm}.weight": [V_WIDTH], layer + f"{norm}.bias": [V_WIDTH]}
        shapes |= {layer + "mlp.fc1.weight": [V_MLP, V_WIDTH], layer + "mlp.fc1.bias": [V_MLP],
                   layer + "mlp.fc2.weight": [V_WIDTH, V_MLP], layer + "mlp.fc2.bias": [V_WIDTH]}
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes |= {layer + f"self_attn.{proj}.weight": [V_WIDTH, V_WIDTH],
                       layer + f"self_attn.{proj}.bias": [V_WIDTH]}
    return shapes


def write_header_only(path: Path, shapes: dict[str, list[int]]) -> Path:
    """A safetensors header without tensor data: enough for every name/shape check, a few KB on disk."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)
    return path


def test_full_size_lerobot_checkpoint_maps_every_key(tmp_path):
    shapes = lerobot_shapes()
    infos = read_header(write_header_only(tmp_path / "model.safetensors", shapes))
    config = config_from_shapes(infos, tmp_path, image_token_index=VOCAB)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.intermediate_size, text.num_attention_heads,
            text.num_key_value_heads, text.head_dim, text.vocab_size) == (WIDTH, LAYERS, MLP, HEADS, 1, HEAD_DIM, VOCAB)
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.image_size,
            vision.intermediate_size) == (V_WIDTH, V_LAYERS, 16, 224, V_MLP)
    model = build_meta_model(config)
    assert all(p.is_meta for p in model.parameters())
    mapping = check_names(infos, model, tmp_path)  # raises listing any missing / unexpected name
    assert len(mapping) == len(shapes) and len(set(mapping.values())) == len(shapes)
    model_shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    assert all(model_shapes[mapping[name]] == shape for name, shape in shapes.items())
    # PaliGemma 3B (2.92e9) plus the untied lm_head (257152 x 2048 = 0.53e9)
    assert 3.4e9 < sum(p.numel() for p in model.parameters()) < 3.5e9


def test_leftover_and_missing_keys_are_listed(tmp_path):
    shapes = lerobot_shapes()
    shapes[LEROBOT + "model.language_model.extra_adapter.weight"] = [4, 4]
    del shapes[LEROBOT + "model.language_model.layers.3.mlp.up_proj.weight"]
    infos = read_header(write_header_only(tmp_path / "model.safetensors", shapes))
    model = build_meta_model(config_from_shapes(infos, tmp_path, image_token_index=VOCAB))
    with pytest.raises(BundleError, match=r"missing 1 \['model.language_model.layers.3.mlp.up_proj.weight'\].*"
                                          r"unexpected 1 .*extra_adapter"):
        check_names(infos, model, tmp_path)


@pytest.mark.parametrize(("name", "expected"), [
    (LEROBOT + "lm_head.weight", "lm_head.weight"),
    ("paligemma_with_expert.paligemma.model.language_model.norm.weight", "model.language_model.norm.weight"),
    ("language_model.model.layers.0.mlp.up_proj.weight", "model.language_model.layers.0.mlp.up_proj.weight"),
    ("language_model.lm_head.weight", "lm_head.weight"),
    ("vision_tower.vision_model.post_layernorm.bias", "model.vision_tower.vision_model.post_layernorm.bias"),
])
def test_names_are_canonicalized(name, expected):
    assert canonical_name(name) == expected


def test_flow_matching_checkpoint_is_refused(tmp_path):
    names = [*lerobot_shapes(), "model.action_in_proj.weight", "model.paligemma_with_expert.gemma_expert.x"]
    with pytest.raises(BundleError, match=r"flow-matching pi0 / pi0\.5.*autoregressive FAST"):
        refuse_flow_matching(names, tmp_path)
