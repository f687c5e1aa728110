"""CUDA-graph decode step: the forward over all 2N rows is captured once per cache shape and replayed per step.

Why: at pi0-FAST size one decode step is ~300 small kernels (18 layers x norms, projections, rotary, attention,
MLP); launched one by one from Python the CPU, not the GPU, sets the pace. A replay launches them all at once.

What a graph needs is fixed addresses. The StaticCache has them already (preallocated by
`VLABackend.expand(static=True)`, and it writes K/V at its own on-device `cumulative_length`). The other inputs
live in static buffers owned here: token ids, position ids, the key-valid mask and the slot index. One replay
marks the slot valid, runs `VLABackend.decode_logits`, then advances positions and slot, all on the device.
Off CUDA the same buffered step runs eagerly (capture=False): that is how CPU tests check the buffer logic.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from transformers import StaticCache

from mgselect_node.model.backend import DecodeState, VLABackend

# Eager runs on a side stream before capture, so lazy initialisation (cuBLAS handles and workspaces, SDPA
# kernel selection) happens outside the graph, as torch.cuda.graph requires.
WARMUP_RUNS = 3


class GraphedDecodeStep:
    """`VLABackend.step` for one StaticCache (fixed rows and capacity), captured on first use.

    Usage per selection: `bind(state)` after `expand(static=True)`, then `step(tokens, state)` per decode step.
    `state.key_valid` and `state.next_position` are rebound to the static buffers, so `state` stays truthful.
    capture: record a CUDA graph (default: on CUDA devices); False replays the buffered step eagerly.
    """

    def __init__(self, backend: VLABackend, cache: StaticCache, rows: int, capacity: int,
                 capture: bool | None = None) -> None:
        on_cuda = backend.device.type == "cuda"
        if capture and not on_cuda:
            raise ValueError(f"CUDA graphs need a CUDA device, the model is on {backend.device}")
        self.capture = on_cuda if capture is None else capture
        self.backend, self.cache = backend, cache
        self.shape = (rows, capacity)
        device = backend.device
        self._tokens = torch.zeros(rows, dtype=torch.long, device=device)
        self._positions = torch.zeros(rows, dtype=torch.long, device=device)
        self._key_valid = torch.zeros((rows, capacity), dtype=torch.bool, device=device)
        self._slot = torch.zeros(1, dtype=torch.long, device=device)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._logits: torch.Tensor | None = None
        self._prepared = False

    def _forward(self) -> torch.Tensor:
        """One decode step on the static buffers (the captured region)."""
        self._key_valid.index_fill_(1, self._slot, True)
        logits = self.backend.decode_logits(self._tokens, self._key_valid, self._positions, self.cache)
        self._positions.add_(1)
        self._slot.add_(1)
        return logits

    def _load(self, key_valid: torch.Tensor, positions: torch.Tensor, length: int) -> None:
        """Put a decode state into the buffers and rewind the cache's write position to `length`."""
        self._key_valid.copy_(key_valid)
        self._positions.copy_(positions)
        self._slot.fill_(length)
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(length)

    @torch.inference_mode()
    def bind(self, state: DecodeState) -> None:
        """Load a freshly expanded state (capturing the graph the first time); `state` then uses the buffers."""
        if state.cache is not self.cache or tuple(state.key_valid.shape) != self.shape:
            raise ValueError(f"this graph was captured for another cache ({self.shape}); got "
                             f"{tuple(state.key_valid.shape)}")
        key_valid, positions = state.key_valid.clone(), state.next_position.clone()
        if not self._prepared:
            self._prepare(key_valid, positions, state.length)
        self._load(key_valid, positions, state.length)
        state.key_valid, state.next_position = self._key_valid, self._positions

    def _prepare(self, key_valid: torch.Tensor, positions: torch.Tensor, length: int) -> None:
        """Warm up eagerly (on a side stream on CUDA), then capture. Warm-up writes K/V at slot `length`, which
        stays masked (its key-valid bit is reset by `_load`) and is overwritten by the first real step."""
        device = self.backend.device
        side = torch.cuda.Stream(device) if self.capture else None
        if side is not None:
            side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side) if side is not None else nullcontext():
            for _ in range(WARMUP_RUNS):
                self._load(key_valid, positions, length)
                self._forward()
        if side is not None:
            torch.cuda.current_stream(device).wait_stream(side)
            self._load(key_valid, positions, length)
            graph = torch.cuda.CUDAGraph()
            # thread_local: CUDA work of other threads (e.g. a ROS callback) must not invalidate the capture.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self._logits = self._forward()
            self._graph = graph
        self._prepared = True

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, state: DecodeState) -> torch.Tensor:
        """Feed one token per row and return the next-token logits (rows, V) float32: a static buffer that the
        next `step` overwrites (stream order makes reading it before then safe)."""
        if not self._prepared:
            raise RuntimeError("GraphedDecodeStep.step called before bind()")
        self._tokens.copy_(tokens)
        if self._graph is not None:
            self._graph.replay()
        else:
            self._logits = self._forward()
        state.length += 1
        return self._logits
