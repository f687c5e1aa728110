"""The public Python API: `load_policy(...)` and `Policy.select(...)`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mgselect_node.config import ConfigError, SelectionConfig
from mgselect_node.engine.engine import SelectionEngine
from mgselect_node.engine.result import SelectionResult
from mgselect_node.errors import InputError
from mgselect_node.model.bundle import PolicyBundle, load_bundle
from mgselect_node.model.formats import LoadOptions
from mgselect_node.model.spec import PolicySpec

WARMUP_INSTRUCTION = "warm up"


class Policy:
    """A loaded policy bundle plus its selection engine. `select` is safe to call from one thread at a time;
    a lock makes concurrent calls queue instead of corrupting shared model state."""

    def __init__(self, bundle: PolicyBundle, static_cache: bool = False) -> None:
        self.bundle = bundle
        self.engine = SelectionEngine(bundle, static_cache=static_cache)
        self._lock = threading.Lock()

    @property
    def spec(self) -> PolicySpec:
        return self.bundle.spec

    @property
    def device(self) -> str:
        return str(self.engine.backend.device)

    def select(self, images: Sequence[np.ndarray] | np.ndarray, state: Sequence[float] | np.ndarray,
               instruction: str, config: SelectionConfig | None = None, **overrides: Any) -> SelectionResult:
        """Pick one action chunk for this observation.

        images: one HxWx3 uint8 RGB frame per camera in `spec.camera_names` order (any size).
        state: joint positions in `spec.joint_names` order, robot units.
        config / overrides: a SelectionConfig, and/or its fields as keywords (strategy=, num_candidates=,
        temperature=, mask_mode=, aggregation=, seed=, ...). Bad values raise InputError.
        """
        config = config or SelectionConfig()
        if overrides:
            try:
                config = config.replace(**overrides)
            except ConfigError as exc:
                raise InputError(str(exc)) from exc
            except TypeError as exc:
                raise InputError(f"unknown selection option: {exc}") from exc
        with self._lock:
            return self.engine.select(images, state, instruction, config)

    def warmup(self, config: SelectionConfig | None = None) -> SelectionResult:
        """One full selection on a blank observation: allocator, kernels and caches are ready afterwards."""
        size = self.spec.image_size
        images = [np.zeros((size, size, 3), dtype=np.uint8) for _ in self.spec.camera_names]
        state = (np.asarray(self.spec.state_q01) + np.asarray(self.spec.state_q99)) / 2
        return self.select(images, state, WARMUP_INSTRUCTION, config)


def load_policy(name_or_path: str = "default", device: str = "cpu", dtype: str = "float32",
                static_cache: bool = False, cpu_threads: int = 0, policy_format: str = "auto",
                text_tokenizer: str = "", action_tokenizer: str = "") -> Policy:
    """Load a policy (a checkpoint directory in any registered format, or a built-in name such as 'default')
    onto `device`. cpu_threads > 0 sets torch's (process-wide) intra-op thread count."""
    if cpu_threads:
        torch.set_num_threads(cpu_threads)
    options = LoadOptions(text_tokenizer=text_tokenizer, action_tokenizer=action_tokenizer)
    bundle = load_bundle(name_or_path, device=device, dtype=dtype, policy_format=policy_format, options=options)
    return Policy(bundle, static_cache=static_cache)
