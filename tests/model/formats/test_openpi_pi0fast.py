"""openpi-style pi0-FAST (safetensors + assets/*/norm_stats.json): names, layout, engine vs a brute force."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.engine import SelectionEngine
from mgselect_node.model.bundle import load_bundle
from mgselect_node.model.formats import LoadOptions, detect_format

DATA = Path(__file__).parents[2] / "data" / "lerobot_pi0fast_tiny"
TASK = "Pick_up the RED cube\n"
STATE = np.array([0.2, -0.4, 0.9, 1.5])
Q01, Q99 = [-1.0, -1.0, 0.0, -2.0], [1.0, 0.5, 1.0, 1.0]


@pytest.fixture(scope="module")
def openpi_dir(tmp_path_factory) -> Path:
    """The tiny LeRobot weights under openpi's converter names, lm_head tied (absent), 4-joint stats."""
    root = tmp_path_factory.mktemp("openpi") / "pi0fast_tiny"
    (root / "assets" / "tiny_robot").mkdir(parents=True)
    tensors = load_file(str(DATA / "checkpoint" / "model.safetensors"))
    renamed = {key.removeprefix("model."): value for key, value in tensors.items()
               if not key.endswith("lm_head.weight")}
    save_file(renamed, str(root / "model.safetensors"))
    stats = {"state": {"q01": Q01, "q99": Q99, "mean": [0.0] * 4, "std": [1.0] * 4},
             "actions": {"q01": Q01, "q99": Q99, "mean": [0.0] * 4, "std": [1.0] * 4}}
    (root / "assets" / "tiny_robot" / "norm_stats.json").write_text(json.dumps({"norm_stats": stats}))
    (root / "config.json").write_text(json.dumps({"action_dim": 6, "action_horizon": 10, "max_token_len": 48,
                                                  "image_size": 28, "cameras": ["base_0_rgb", "wrist_0_rgb"]}))
    return root


@pytest.fixture(scope="module")
def bundle(openpi_dir):
    options = LoadOptions(text_tokenizer=str(DATA / "paligemma_tokenizer"),
                          action_tokenizer=str(DATA / "fast_tokenizer"))
    return load_bundle(str(openpi_dir), options=options)


def test_detected_and_tied_head_loaded(openpi_dir, bundle):
    assert detect_format(openpi_dir).name == "openpi_pi0fast"
    embed = load_file(str(openpi_dir / "model.safetensors"))[
        "paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"]
    np.testing.assert_array_equal(bundle.model.lm_head.weight.detach().numpy(), embed)
    assert bundle.spec.camera_names == ["base_0_rgb", "wrist_0_rgb"]
    assert (bundle.spec.state_dim, bundle.action_tokenizer.action_dim, bundle.spec.action_dim) == (4, 6, 4)


def test_prompt_is_openpi_layout(bundle):
    """Lowercased, cleaned, state quantile-normalized (eps 1e-6), zero-padded to action_dim, binned unclipped."""
    normalized = (STATE - Q01) / (np.array(Q99) - Q01 + 1e-6) * 2 - 1
    padded = np.concatenate([normalized, [0.0, 0.0]])
    bins = np.digitize(padded, np.linspace(-1, 1, 257)[:-1]) - 1
    assert bins[-1] == 128 and bins[3] == 255
    text = f"Task: pick up the red cube, State: {' '.join(map(str, bins))};\n"
    state_bins = bundle.prompts.state_bins(bundle.state_normalizer.normalize(STATE))
    assert bundle.prompts.text(TASK, state_bins) == text
    ids = bundle.prompts.token_ids(TASK, state_bins)
    expected = [2, *bundle.text_tokenizer.encode(text, add_special_tokens=False).ids]
    assert ids == [bundle.layout.image_id] * 8 + expected  # no second <bos> (LeRobot has one)
    assert bundle.prompts.text(TASK, state_bins, "both") == "Task: , State: ;\n"


def test_greedy_decode_matches_uncached_forward_with_openpi_positions(bundle):
    """Each greedy step against a full HF forward: bidirectional prefix, causal suffix, decode positions one past
    the prefix (openpi's gap), forced "Action: " tokens."""
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (30, 40, 3), dtype=np.uint8) for _ in range(2)]
    engine = SelectionEngine(bundle)
    config = SelectionConfig(strategy="greedy", restrict_to_action_tokens=False, complete_chunks=False,
                             max_action_tokens=6)
    trace: list = []
    result = engine.select(images, STATE, TASK, config, trace=trace)
    prompt = engine.build_prompts(engine.check_state(STATE), TASK, None)[0]
    pixels = torch.from_numpy(bundle.images(images, bundle.spec.camera_names, bundle.spec.image_size))
    tokens = [bundle.layout.to_model(k) for k in result.tokens[0]]
    assert len(trace) == len(tokens) + (len(tokens) < 6)
    for j in range(len(trace)):
        suffix = bundle.prompts.suffix_prefix + tokens[:j]
        ids = torch.tensor([prompt + suffix])
        positions = torch.tensor([list(range(len(prompt))) + [len(prompt) + 1 + k for k in range(len(suffix))]])
        with torch.inference_mode():
            logits = bundle.model(input_ids=ids, pixel_values=pixels, position_ids=positions,
                                  attention_mask=torch.ones_like(ids),  # else the gap reads as a packed sequence
                                  token_type_ids=torch.tensor([[0] * len(prompt) + [1] * len(suffix)])).logits
        log_p = torch.log_softmax(logits[0, -1].float(), dim=-1)
        np.testing.assert_allclose(trace[j][0][0].numpy(), log_p.numpy(), atol=1e-4)
        if j < len(tokens):
            assert int(log_p.argmax()) == tokens[j]
