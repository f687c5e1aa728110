"""The decode memory estimate: exact for the KV cache, linear in N, and the check names the N that fits."""

import numpy as np
import pytest
import torch

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.policy import load_policy
from mgselect_node.model.memory import (
    RESERVE_BYTES,
    InsufficientMemoryError,
    check_decode_memory,
    estimate_decode_memory,
    kv_cache_bytes,
    largest_fitting,
)
from mgselect_node.model.presets import PI0FAST, TINY, build_config

VOCAB = 4096
CAPACITY = 384
PI0FAST_VOCAB = 257_152
CPU = torch.device("cpu")


@pytest.mark.parametrize("n", [1, 3])
def test_kv_estimate_equals_the_allocated_static_cache(random_bundle, n):
    policy = load_policy(random_bundle, static_cache=True)
    images = [np.zeros((32, 32, 3), dtype=np.uint8)]
    config = SelectionConfig(num_candidates=n, max_action_tokens=8)
    policy.engine.select(images, np.zeros(6), "pick up the red cube", config, fallback=False)  # no greedy re-run
    backend = policy.engine.backend
    ((rows, capacity),) = backend._static_caches.keys()
    assert rows == 2 * n
    allocated = backend.static_cache_bytes()
    assert allocated > 0
    assert kv_cache_bytes(policy.bundle.model.config, rows, capacity, torch.float32) == allocated


def test_estimate_is_linear_in_rows_and_grows():
    config = build_config(VOCAB, TINY)
    totals = [estimate_decode_memory(config, rows, CAPACITY, torch.float32).total_bytes for rows in (2, 4, 6, 8)]
    steps = np.diff(totals)
    assert (steps > 0).all() and len(set(steps.tolist())) == 1
    kv = [estimate_decode_memory(config, rows, CAPACITY, torch.float32).kv_cache_bytes for rows in (2, 4)]
    assert kv[1] == 2 * kv[0]


def test_pi0fast_numbers_are_plausible():
    """Gemma 2B (18 layers, 1 KV head of 256) in bfloat16: 18 KiB of KV per row and slot; logits dominate per row."""
    config = build_config(PI0FAST_VOCAB, PI0FAST)
    assert kv_cache_bytes(config, 1, 1, torch.bfloat16) == 18 * 2 * 256 * 2
    estimate = estimate_decode_memory(config, 8, CAPACITY, torch.bfloat16)
    assert 50e6 < estimate.kv_cache_bytes < 60e6        # 8 rows x 384 slots x 18 KiB = 56.6 MB
    assert 100e6 < estimate.activation_bytes < 200e6    # 8 rows x 257k vocab x 34 B (70 MB) + prefill
    assert estimate.required_bytes > estimate.total_bytes + RESERVE_BYTES - 1


def test_check_names_the_largest_n_that_fits():
    config = build_config(VOCAB, TINY)
    free = estimate_decode_memory(config, 2 * 10, CAPACITY, torch.float32).required_bytes + 1
    best = largest_fitting(config, 2, CAPACITY, torch.float32, free, 64)
    assert best == 10
    check_decode_memory(config, 10, 2, CAPACITY, torch.float32, CPU, free_bytes=free)  # fits: no error
    with pytest.raises(InsufficientMemoryError, match="largest num_candidates that fits is 10") as info:
        check_decode_memory(config, 11, 2, CAPACITY, torch.float32, CPU, free_bytes=free)
    assert "num_candidates=11" in str(info.value) and "GiB" in str(info.value)


def test_held_cache_counts_as_available():
    config = build_config(VOCAB, TINY)
    need = estimate_decode_memory(config, 8, CAPACITY, torch.float32).required_bytes
    with pytest.raises(InsufficientMemoryError):
        check_decode_memory(config, 4, 2, CAPACITY, torch.float32, CPU, free_bytes=need // 2)
    check_decode_memory(config, 4, 2, CAPACITY, torch.float32, CPU, free_bytes=need // 2, held_bytes=need)


def test_nothing_fits_says_so():
    config = build_config(VOCAB, TINY)
    with pytest.raises(InsufficientMemoryError, match="fits is none"):
        check_decode_memory(config, 4, 2, CAPACITY, torch.float32, CPU, free_bytes=1)


def test_cpu_is_not_checked_without_a_number(random_bundle):
    config = build_config(VOCAB, TINY)
    estimate = check_decode_memory(config, 10**9, 2, CAPACITY, torch.float32, CPU)
    assert estimate.rows == 2 * 10**9
    policy = load_policy(random_bundle)  # and the engine's check is a no-op on the CPU
    result = policy.select([np.zeros((32, 32, 3), dtype=np.uint8)], np.zeros(6), "pick up the red cube",
                           SelectionConfig(num_candidates=2, max_action_tokens=4))
    assert len(result.candidates) == 2


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="rows and capacity"):
        estimate_decode_memory(build_config(VOCAB, TINY), 0, CAPACITY, torch.float32)
