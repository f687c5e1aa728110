"""Device memory for one selection: estimate what a decode of `rows` x `capacity` needs, and refuse a number of
candidates that does not fit before any work starts (at configure/warm-up time), never half-way through a run.

The estimate is deliberately simple and linear in the number of rows:
- KV cache: layers x (K and V) x rows x kv_heads x capacity x head_dim x element size (exactly what a
  transformers StaticCache allocates for these shapes);
- decode activations per row: the (rows, vocab) logits in the weights dtype plus the float32 copies the engine
  holds at once (upcast logits, log P, log Q, exp(log Q), the KL product, the sampling probabilities and the
  race noise), plus the hidden and MLP activations of one token;
- prefill activations (fixed, for the prompt rows): hidden + MLP activations per prompt token, the additive
  mask and one layer's attention scores.
The check adds a safety factor and a fixed reserve (allocator fragmentation, cuBLAS workspaces, CUDA graph
pool slack) on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedConfig

from mgselect_node.errors import MGSelectError

BYTES_FP32 = 4
GIB = 1024**3
# (rows, vocab) float32 tensors alive at once in one decode step of the engine (see the module docstring).
FP32_VOCAB_BUFFERS = 8
# Per token, live hidden-sized (residual, normed, attention out, q) and MLP-sized (gate, up) activations.
HIDDEN_BUFFERS = 4
MLP_BUFFERS = 2
# K and V.
KV_TENSORS = 2
# Prompts in one prefill: the conditioned one and the masked reference.
DEFAULT_PROMPT_ROWS = 2
# Headroom: estimate x SAFETY_FACTOR + RESERVE_BYTES must fit into the free memory.
SAFETY_FACTOR = 1.25
RESERVE_BYTES = GIB // 2


class InsufficientMemoryError(MGSelectError):
    """The configured number of candidates does not fit into the device's free memory."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one selection needs on the device for `rows` decode rows of `capacity` cache slots."""

    rows: int
    capacity: int
    kv_cache_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.kv_cache_bytes + self.activation_bytes

    @property
    def required_bytes(self) -> int:
        """What must be free: the estimate plus headroom."""
        return int(self.total_bytes * SAFETY_FACTOR) + RESERVE_BYTES


def _text(config: PreTrainedConfig) -> PreTrainedConfig:
    """The decoder config of a PaliGemma config (or the decoder config itself)."""
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


def kv_cache_bytes(config: PreTrainedConfig, rows: int, capacity: int, dtype: torch.dtype) -> int:
    """Bytes of a static KV cache with `rows` rows and `capacity` slots per layer."""
    text = _text(config)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    per_slot = KV_TENSORS * text.num_key_value_heads * head_dim * dtype.itemsize
    return text.num_hidden_layers * rows * capacity * per_slot


def estimate_decode_memory(config: PreTrainedConfig, rows: int, capacity: int, dtype: torch.dtype,
                           prompt_rows: int = DEFAULT_PROMPT_ROWS) -> MemoryEstimate:
    """KV cache + activation bytes for one selection (the prompt is bounded by `capacity`)."""
    if rows < 1 or capacity < 1:
        raise ValueError(f"rows and capacity must be >= 1, got rows={rows}, capacity={capacity}")
    text = _text(config)
    item = dtype.itemsize
    per_token = (HIDDEN_BUFFERS * text.hidden_size + MLP_BUFFERS * text.intermediate_size) * item
    per_row = text.vocab_size * (item + FP32_VOCAB_BUFFERS * BYTES_FP32) + per_token
    scores = prompt_rows * text.num_attention_heads * capacity * capacity * BYTES_FP32
    mask = prompt_rows * capacity * capacity * item
    prefill = prompt_rows * capacity * per_token + scores + mask
    return MemoryEstimate(rows=rows, capacity=capacity, kv_cache_bytes=kv_cache_bytes(config, rows, capacity, dtype),
                          activation_bytes=rows * per_row + prefill)


def available_bytes(device: torch.device) -> int:
    """Free device memory plus what PyTorch's caching allocator holds but does not use (it reuses that)."""
    if device.type != "cuda":
        raise ValueError(f"free memory is only measured on CUDA devices, not {device}")
    free, _ = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def largest_fitting(config: PreTrainedConfig, rows_per_candidate: int, capacity: int, dtype: torch.dtype,
                    free_bytes: int, upper: int) -> int:
    """The largest number of candidates in [0, upper] whose estimate fits into `free_bytes`."""
    def fits(n: int) -> bool:
        return estimate_decode_memory(config, n * rows_per_candidate, capacity, dtype).required_bytes <= free_bytes

    low, high = 0, upper  # invariant: low fits (0 trivially), everything above high does not
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def check_decode_memory(config: PreTrainedConfig, num_candidates: int, rows_per_candidate: int, capacity: int,
                        dtype: torch.dtype, device: torch.device, free_bytes: int | None = None,
                        held_bytes: int = 0) -> MemoryEstimate:
    """Raise InsufficientMemoryError, naming the largest N that fits, when N candidates do not fit.

    free_bytes: measured on CUDA when None; on other devices nothing is checked unless it is given.
    held_bytes: memory this engine already holds and will reuse or release first (its static KV cache).
    """
    estimate = estimate_decode_memory(config, num_candidates * rows_per_candidate, capacity, dtype)
    if free_bytes is None:
        if device.type != "cuda":
            return estimate
        free_bytes = available_bytes(device)
    free_bytes += held_bytes
    if estimate.required_bytes > free_bytes:
        best = largest_fitting(config, rows_per_candidate, capacity, dtype, free_bytes, num_candidates)
        raise InsufficientMemoryError(
            f"num_candidates={num_candidates} does not fit on {device}: {estimate.rows} decode rows x "
            f"{capacity} cache slots need ~{estimate.required_bytes / GIB:.2f} GiB (KV cache "
            f"{estimate.kv_cache_bytes / GIB:.2f} GiB + activations {estimate.activation_bytes / GIB:.2f} GiB, "
            f"with headroom) but {free_bytes / GIB:.2f} GiB is free; the largest num_candidates that fits is "
            + (f"{best}" if best else "none (free device memory or lower max_action_tokens)"))
    return estimate
