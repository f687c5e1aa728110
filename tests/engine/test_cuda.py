"""The CUDA fast path: static cache + CUDA-graph decode equals the dynamic path; bfloat16 runs; memory is
checked before any work. Run on a GPU machine by scripts/gpu_check.sh; skipped (with the reason) elsewhere."""

import json

import numpy as np
import pytest
import torch

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.policy import load_policy
from mgselect_node.model.images import preprocess_images
from mgselect_node.model.memory import InsufficientMemoryError, check_decode_memory

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device (torch.cuda.is_available() is False); run scripts/gpu_check.sh on a GPU machine")

INSTRUCTION = "push the blue block to the green pad"
FP32_ATOL = 1e-3   # same math, different kernels (growing vs fixed-size cache): float32 rounding only
BF16_ATOL = 5e-2   # bfloat16 logits, float32 softmax/KL
HOT = 5.0          # a flat draw: with the terminator among few allowed tokens, rows end after a few tokens
ABSURD_N = 10**7


def _observation(seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)], rng.uniform(-1, 1, 6)


def _assert_same(a, b, atol: float) -> None:
    assert a.tokens == b.tokens
    for kl_a, kl_b, lp_a, lp_b in zip(a.token_kl, b.token_kl, a.token_logprob, b.token_logprob, strict=True):
        np.testing.assert_allclose(kl_a, kl_b, atol=atol)
        np.testing.assert_allclose(lp_a, lp_b, atol=atol)


@pytest.fixture(scope="module")
def fp32(random_bundle):
    return load_policy(random_bundle, device="cuda"), load_policy(random_bundle, device="cuda", static_cache=True)


@pytest.fixture(scope="module")
def bf16(random_bundle):
    graph = load_policy(random_bundle, device="cuda", dtype="bfloat16", static_cache=True)
    eager = load_policy(random_bundle, device="cuda", dtype="bfloat16", static_cache=True)
    eager.engine.cuda_graph = False
    return graph, eager


def test_static_cache_on_cuda_uses_the_graph(fp32):
    _, graph = fp32
    assert graph.engine.cuda_graph
    images, state = _observation(0)
    graph.select(images, state, INSTRUCTION, num_candidates=2, max_action_tokens=6)
    assert graph.engine._graph is not None and graph.engine._graph._graph is not None  # captured and replayed


@pytest.mark.parametrize("mask_mode", ["text", "state", "both"])
@pytest.mark.parametrize("n", [1, 4])
def test_graph_matches_dynamic_fp32(fp32, mask_mode, n):
    dynamic, graph = fp32
    images, state = _observation(n)
    config = SelectionConfig(num_candidates=n, temperature=1.0, mask_mode=mask_mode, seed=5, max_action_tokens=12)
    expected = dynamic.engine.select(images, state, INSTRUCTION, config, fallback=False)
    for _ in range(2):  # the second call replays the same graph on the reused cache
        _assert_same(expected, graph.engine.select(images, state, INSTRUCTION, config, fallback=False), FP32_ATOL)


def test_graph_survives_shape_changes(fp32):
    dynamic, graph = fp32
    images, state = _observation(3)
    for n, budget in ((4, 12), (2, 12), (4, 70), (4, 12)):  # rows and capacity change: recapture each time
        config = SelectionConfig(num_candidates=n, temperature=1.0, seed=n, max_action_tokens=budget)
        _assert_same(dynamic.select(images, state, INSTRUCTION, config),
                     graph.select(images, state, INSTRUCTION, config), FP32_ATOL)


def test_graph_matches_dynamic_with_early_terminators(fp32, early_ending_pairs):
    """Rows finish at different steps and the loop ends before the budget (the every-k-steps finished check)."""
    dynamic, graph = fp32
    images, state = _observation(7)
    pairs, ended_early = early_ending_pairs(dynamic.engine, graph.engine, images, state, range(4), HOT)
    for expected, got in pairs:
        _assert_same(expected, got, FP32_ATOL)
    assert ended_early


def test_bfloat16_graph_runs_and_matches_eager(bf16):
    graph, eager = bf16
    assert graph.engine.backend.dtype == torch.bfloat16 and graph.engine.cuda_graph
    images, state = _observation(11)
    for strategy in ("greedy", "mg_select"):
        config = SelectionConfig(strategy=strategy, num_candidates=4, temperature=1.0, seed=2, max_action_tokens=16)
        a = eager.select(images, state, INSTRUCTION, config)
        b = graph.select(images, state, INSTRUCTION, config)
        _assert_same(a, b, BF16_ATOL)
        assert all(np.isfinite(kl).all() for kl in b.token_kl)
        assert np.isfinite(b.scores[np.isfinite(b.scores)]).all()


def test_memory_check_names_the_largest_n(fp32):
    _, graph = fp32
    config = graph.bundle.model.config
    device = graph.engine.backend.device
    with pytest.raises(InsufficientMemoryError, match=r"largest num_candidates that fits is \d+"):
        check_decode_memory(config, ABSURD_N, 2, 128, torch.float32, device)
    # Within the engine the check comes before any allocation: the prefill is never reached.
    images, state = _observation(0)
    pixels = preprocess_images(images, graph.spec.camera_names, graph.spec.image_size)
    prompts = graph.engine.build_prompts(state, INSTRUCTION, "text")
    before = torch.cuda.memory_allocated(device)
    with pytest.raises(InsufficientMemoryError):
        graph.engine.generate(pixels, prompts, ABSURD_N, 1.0, SelectionConfig(max_action_tokens=8))
    assert torch.cuda.memory_allocated(device) <= before
    graph.select(images, state, INSTRUCTION, num_candidates=4, max_action_tokens=8)  # still usable afterwards


def test_preset_bench_runs_on_cuda(tmp_path):
    from mgselect_node.bench.gpu_bench import main

    out = tmp_path / "bench.json"
    assert main(["--preset", "tiny", "--device", "cuda", "--tokens", "8", "--sweep", "1,4", "--warmup", "1",
                 "--repeats", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["cuda_graph"] and report["dtype"] == "bfloat16"
    assert report["chunk_ms_n4_8tok"] > 0 and report["mg_select_n4_over_greedy"] > 0
    assert "mg_select_n4_8tok_no_graph" in report["chunk_ms"]
