"""PolicySpec: what a policy bundle says about the robot it drives (policy.yaml in the bundle)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mgselect_node.errors import BundleError
from mgselect_node.tokenization.prompt import DEFAULT_PROMPT_FORMAT

ACTION_MODES = ("absolute", "delta")
ACTION_TOKENIZERS = ("fast", "bins")


@dataclass
class PolicySpec:
    """Robot-facing description of a policy. Lists are in the policy's joint / camera order."""

    name: str
    camera_names: list[str]
    image_size: int
    joint_names: list[str]
    horizon: int
    control_rate: float
    state_q01: list[float]
    state_q99: list[float]
    action_q01: list[float]
    action_q99: list[float]
    action_mode: str = "absolute"
    action_tokenizer: str = "fast"
    max_action_tokens: int = 64
    prompt_format: str = DEFAULT_PROMPT_FORMAT
    joint_lower: list[float] = field(default_factory=list)
    joint_upper: list[float] = field(default_factory=list)
    description: str = ""

    @property
    def state_dim(self) -> int:
        return len(self.state_q01)

    @property
    def action_dim(self) -> int:
        return len(self.action_q01)

    def __post_init__(self) -> None:
        problems = []
        if self.action_mode not in ACTION_MODES:
            problems.append(f"action_mode={self.action_mode!r}, expected one of {ACTION_MODES}")
        if self.action_tokenizer not in ACTION_TOKENIZERS:
            problems.append(f"action_tokenizer={self.action_tokenizer!r}, expected one of {ACTION_TOKENIZERS}")
        if len(self.state_q01) != len(self.state_q99):
            problems.append("state_q01 and state_q99 differ in length")
        if len(self.action_q01) != len(self.action_q99):
            problems.append("action_q01 and action_q99 differ in length")
        if len(self.joint_names) != self.state_dim:
            problems.append(f"{len(self.joint_names)} joint_names but state stats have {self.state_dim} entries")
        if self.action_mode == "delta" and self.action_dim != self.state_dim:
            problems.append("delta actions need action_dim == state_dim")
        if self.horizon < 1 or self.image_size < 8 or self.control_rate <= 0 or not self.camera_names:
            problems.append("horizon >= 1, image_size >= 8, control_rate > 0 and one camera at least are required")
        if self.joint_lower and len(self.joint_lower) != self.action_dim:
            problems.append("joint_lower must have one entry per action dimension")
        if self.joint_upper and len(self.joint_upper) != self.action_dim:
            problems.append("joint_upper must have one entry per action dimension")
        if "{instruction}" not in self.prompt_format or "{state}" not in self.prompt_format:
            problems.append("prompt_format must contain {instruction} and {state}")
        if problems:
            raise BundleError("policy.yaml: " + "; ".join(problems))

    def to_joint_positions(self, chunk: np.ndarray, current_state: np.ndarray) -> np.ndarray:
        """Chunk in action space -> absolute joint targets (delta actions are added to the current state)."""
        if self.action_mode == "delta":
            return np.asarray(current_state, dtype=np.float64)[None, :] + chunk
        return np.asarray(chunk, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicySpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BundleError(f"policy.yaml: unknown key(s) {unknown}")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                         and f.name not in data)
        if missing:
            raise BundleError(f"policy.yaml: missing key(s) {missing}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise BundleError(f"policy.yaml: {exc}") from exc
