"""A stand-in with the engine's Policy interface, for pipeline/node logic tests that need exact control.

It records every call and returns a predictable chunk: the current state plus a small ramp, so safety passes
unless a test asks otherwise through the instruction ("jump" -> a large jump, "invalid" -> no valid chunk,
"slow" -> the call takes SLOW_S, longer than the node tests' max_observation_age).
End-to-end tests use the real bundled policy instead.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mgselect_node.config import SelectionConfig
from mgselect_node.engine.result import SelectionResult, Timing
from mgselect_node.errors import InputError
from mgselect_node.model.spec import PolicySpec

JOINTS = ["j1", "j2", "j3"]
RAMP = 0.01
JUMP = 1.0
SLOW_S = 1.5
KEEP_CALLS = 20   # a node process runs for minutes: keep the recent calls only (frames are large)


def fake_spec(**changes: Any) -> PolicySpec:
    values: dict[str, Any] = dict(
        name="fake", camera_names=["front"], image_size=16, joint_names=list(JOINTS), horizon=5,
        control_rate=10.0, state_q01=[-1.0] * 3, state_q99=[1.0] * 3, action_q01=[-1.0] * 3,
        action_q99=[1.0] * 3, joint_lower=[-2.0] * 3, joint_upper=[2.0] * 3)
    values.update(changes)
    return PolicySpec(**values)


@dataclass
class Call:
    images: list[np.ndarray]
    state: np.ndarray
    instruction: str
    config: SelectionConfig


@dataclass
class FakePolicy:
    spec: PolicySpec = field(default_factory=fake_spec)
    device: str = "cpu"
    calls: deque[Call] = field(default_factory=lambda: deque(maxlen=KEEP_CALLS))

    def select(self, images: list[np.ndarray], state: np.ndarray, instruction: str,
               config: SelectionConfig | None = None, **overrides: Any) -> SelectionResult:
        config = (config or SelectionConfig()).replace(**overrides)
        if len(images) != len(self.spec.camera_names):
            raise InputError(f"expected {len(self.spec.camera_names)} images, got {len(images)}")
        for img in images:
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise InputError(f"bad image {img.shape} {img.dtype}")
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.spec.state_dim,) or not np.all(np.isfinite(state)):
            raise InputError(f"bad state {state}")
        self.calls.append(Call(list(images), state.copy(), instruction, config))
        if "slow" in instruction:
            time.sleep(SLOW_S)
        n = config.num_candidates
        ramp = RAMP * np.arange(1, self.spec.horizon + 1)[:, None] * np.ones(self.spec.action_dim)
        base = np.zeros_like(state) if self.spec.action_mode == "delta" else state
        chunk = base[None, :] + ramp
        if "jump" in instruction:
            chunk = chunk + JUMP
        valid = "invalid" not in instruction
        scores = np.arange(n, dtype=np.float64) if valid else np.full(n, -np.inf)
        return SelectionResult(
            chunk=chunk if valid else None, candidates=[chunk if valid else None] * n, scores=scores,
            token_kl=[np.zeros(1)] * n, token_logprob=[np.zeros(1)] * n, tokens=[[0]] * n,
            selected=n - 1 if valid else -1, strategy=config.strategy, mask_mode=config.mask_mode,
            valid=valid, reason="" if valid else "no candidate decoded", timing=Timing(preprocess_ms=0.1))

    def warmup(self, config: SelectionConfig | None = None) -> SelectionResult:
        size = self.spec.image_size
        images = [np.zeros((size, size, 3), np.uint8) for _ in self.spec.camera_names]
        return self.select(images, np.zeros(self.spec.state_dim), "warm up", config)
