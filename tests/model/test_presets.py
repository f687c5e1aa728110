"""Model presets: pi0-FAST has the published dimensions (checked on the meta device, no memory), and a
reduced-depth pi0-FAST builds in memory and runs one selection on the CPU (the GPU benchmark's code path)."""

import json

import numpy as np
import pytest
import torch
from transformers import PaliGemmaForConditionalGeneration

from mgselect_node.bench import gpu_bench
from mgselect_node.model.presets import PI0FAST, PRESETS, build_config, image_tokens_per_camera

PALIGEMMA_VOCAB = 257_152
REDUCED_VOCAB = 4096


def test_pi0fast_dimensions_are_the_documented_ones():
    """SigLIP So400m/14 at 224 px + Gemma 2B (PaliGemma 3B)."""
    assert PRESETS["pi0fast"] is PI0FAST
    config = build_config(PALIGEMMA_VOCAB, PI0FAST)
    vision, text = config.vision_config, config.text_config
    assert (vision.image_size, vision.patch_size, vision.hidden_size, vision.num_hidden_layers,
            vision.num_attention_heads, vision.intermediate_size) == (224, 14, 1152, 27, 16, 4304)
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads,
            text.head_dim, text.intermediate_size) == (2048, 18, 8, 1, 256, 16384)
    assert image_tokens_per_camera(config) == 256
    assert gpu_bench.PRESET_VOCAB_SIZE["pi0fast"] == PALIGEMMA_VOCAB


def test_pi0fast_parameter_count_on_meta_device():
    with torch.device("meta"):
        model = PaliGemmaForConditionalGeneration(build_config(PALIGEMMA_VOCAB, PI0FAST))
    total = sum(p.numel() for p in model.parameters())
    language = sum(p.numel() for p in model.model.language_model.parameters())
    vision = sum(p.numel() for p in model.model.vision_tower.parameters())
    assert 2.90e9 < total < 2.95e9          # "2.9 B parameters"
    assert 2.50e9 < language < 2.52e9       # Gemma 2B incl. the 257k x 2048 (tied) embedding
    assert 0.40e9 < vision < 0.42e9         # SigLIP So400m
    model = model.to(torch.bfloat16)
    weight_bytes = gpu_bench.decode_weight_bytes(model)
    assert weight_bytes == 2 * language     # what one decode step reads at least, ~5.0 GB in bfloat16


def test_preset_dims_reduce_depth_only():
    dims = gpu_bench.preset_dims("pi0fast", layers=1, vision_layers=2)
    assert (dims.layers, dims.vision_layers) == (1, 2)
    assert (dims.hidden, dims.intermediate, dims.vision_hidden) == (PI0FAST.hidden, PI0FAST.intermediate,
                                                                    PI0FAST.vision_hidden)
    with pytest.raises(ValueError, match="expected one of"):
        gpu_bench.preset_dims("pi1")
    with pytest.raises(ValueError, match=">= 1"):
        gpu_bench.preset_dims("pi0fast", layers=0)


@pytest.fixture(scope="module")
def reduced_pi0fast():
    return gpu_bench.build_preset_policy("pi0fast", device="cpu", dtype="float32", layers=1, vision_layers=1,
                                         vocab_size=REDUCED_VOCAB, max_action_tokens=4)


@pytest.mark.slow  # writes and loads a pi0-FAST-width LeRobot directory (~0.5 GB)
def test_reduced_pi0fast_builds_with_full_width_and_random_weights(reduced_pi0fast):
    model = reduced_pi0fast.bundle.model
    text = model.config.text_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (2048, 16384, 1)
    # Through the LeRobot adapter, as a user's checkpoint: untied head (equal values: the random model was tied),
    # PaliGemma token layout with fast_skip_tokens, "|" terminator, forced "Action: " tokens.
    assert model.lm_head.weight is not model.model.language_model.embed_tokens.weight
    assert torch.equal(model.lm_head.weight, model.model.language_model.embed_tokens.weight)
    bundle = reduced_pi0fast.bundle
    assert bundle.spec.description == "pi0-FAST checkpoint (lerobot format)"
    assert bundle.layout.action_offset == 128 and bundle.layout.vocab_size == REDUCED_VOCAB
    assert bundle.text_tokenizer.id_to_token(bundle.layout.terminator_id) == "|"
    assert bundle.text_tokenizer.decode(bundle.prompts.suffix_prefix) == "Action: "
    for name, param in model.named_parameters():
        assert torch.isfinite(param.detach()).all(), name
    q_proj = model.model.language_model.layers[0].self_attn.q_proj.weight.detach()
    assert 0.015 < float(q_proj.std()) < 0.025 and abs(float(q_proj.mean())) < 1e-3
    norm = model.model.language_model.norm.weight.detach()
    assert float(norm.abs().max()) == 0.0  # Gemma RMSNorm scales by 1 + w
    assert reduced_pi0fast.spec.image_size == 224


@pytest.mark.slow
def test_reduced_pi0fast_runs_one_selection_on_cpu(reduced_pi0fast):
    images = [np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)]
    result = reduced_pi0fast.select(images, np.zeros(6), "pick up the red cube", num_candidates=2,
                                    max_action_tokens=3, temperature=1.0)
    assert len(result.candidates) == 2 and result.scores.shape == (2,)
    assert all(np.isfinite(kl).all() for kl in result.token_kl)
    assert result.timing.prefill_ms > 0 and result.timing.decode_ms > 0


def test_gpu_bench_dry_run_writes_the_report(tmp_path):
    """The benchmark's CLI end to end on the CPU at the tiny preset (the pi0fast dry run is scripts/gpu_check.sh
    --dry-run; same code, only slower)."""
    out = tmp_path / "bench.json"
    assert gpu_bench.main(["--preset", "tiny", "--device", "cpu", "--tokens", "3,6", "--sweep", "4",
                           "--warmup", "0", "--repeats", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    for key in ("chunk_ms_n4_6tok", "mg_select_n4_over_greedy", "over_floor_n4_6tok", "floor_ms_6tok",
                "naive_over_mg_select_n4", "copy_bandwidth_gbps", "decode_weight_bytes"):
        assert report[key] > 0, key
    assert set(report["chunk_ms"]) == {"greedy_3tok", "mg_select_n4_3tok", "greedy_6tok", "mg_select_n4_6tok",
                                       "naive_mg_select_n4_6tok"}
    assert report["valid_candidates"]["mg_select_n4_6tok"] in range(5)
    assert report["cuda_graph"] is False and report["dtype"] == "float32"
    assert report["targets"]["over_floor_n4_64tok"] == {"target": 1.3, "value": None, "met": False}


def test_gpu_bench_refuses_cuda_without_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit):
        gpu_bench.main(["--preset", "tiny", "--device", "cuda"])
    assert "no CUDA device" in capsys.readouterr().err


def test_bench_forwards_preset_to_gpu_bench(monkeypatch):
    from mgselect_node.bench import engine_bench as bench

    seen = {}
    monkeypatch.setattr(gpu_bench, "main", lambda argv: seen.setdefault("argv", argv) and 0)
    assert bench.main(["--preset", "pi0fast", "--device", "cuda", "--layers", "2"]) == 0
    assert seen["argv"] == ["--preset", "pi0fast", "--device", "cuda", "--layers", "2"]
