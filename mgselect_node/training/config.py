"""The training recipe as one typed, validated dataclass (what training.json records and --resume compares)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mgselect_node.errors import InputError
from mgselect_node.model.presets import PRESETS
from mgselect_node.tokenization.prompt import MASK_MODES

DEFAULT_HORIZON = 10
DEFAULT_STEPS = 3000
DEFAULT_BATCH = 16
DEFAULT_LR = 5e-4
DEFAULT_FAST_VOCAB = 256
DEFAULT_CHECKPOINT_EVERY = 500
DEFAULT_LOG_EVERY = 25
DEFAULT_EARLY_FRAMES = 10  # one chunk (1 s at 10 Hz): the expert's transfer has barely started
SCHEDULES = ("cosine", "constant")
ACTION_MODES = ("absolute", "delta")
WEIGHT_DTYPES = ("float32", "float16", "bfloat16")
DROPOUT_SUM_SLACK = 1e-9  # float rounding allowed when the dropout probabilities sum to exactly 1


def parse_dropout(text: str) -> dict[str, float]:
    """'text=0.1,state=0.1,both=0.05' -> {'text': .1, 'state': .1, 'both': .05}; missing modes are 0."""
    probs = dict.fromkeys(MASK_MODES, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in MASK_MODES:
            raise InputError(f"--dropout {text!r}: expected comma-separated MODE=P with MODE in {MASK_MODES}")
        try:
            probs[name.strip()] = float(value)
        except ValueError as exc:
            raise InputError(f"--dropout {text!r}: {value!r} is not a probability") from exc
    check_dropout(probs)
    return probs


def check_dropout(probs: dict[str, float]) -> None:
    """Condition dropout: one probability per mask mode, the rest of the mass is the full prompt."""
    if set(probs) - set(MASK_MODES) or any(not 0.0 <= p <= 1.0 for p in probs.values()):
        raise InputError(f"dropout {probs}: expected probabilities in [0, 1] for modes {MASK_MODES}")
    if sum(probs.values()) > 1.0 + DROPOUT_SUM_SLACK:
        raise InputError(f"dropout {probs}: probabilities sum to {sum(probs.values()):.3f}, expected <= 1 "
                         "(the rest is the full prompt)")


@dataclass
class TrainConfig:
    """One training run; every `mgselect train` flag but the I/O ones maps onto a field."""

    out: str
    steps: int = DEFAULT_STEPS
    batch: int = DEFAULT_BATCH
    lr: float = DEFAULT_LR
    seed: int = 0
    dropout: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MASK_MODES, 0.0))
    horizon: int = DEFAULT_HORIZON
    fast_vocab: int = DEFAULT_FAST_VOCAB
    dims: str = "tiny"
    schedule: str = "cosine"
    action_mode: str = "absolute"
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    weights_dtype: str = "float16"
    log_every: int = DEFAULT_LOG_EVERY
    max_episodes: int = 0  # use only the first N successful episodes (0 = all)
    # Decision frames: this share of every batch comes from the first `early_frames` frames of episodes, where
    # the arm has not moved yet and only the instruction says which pad to head for (0 = uniform over frames).
    early_fraction: float = 0.0
    early_frames: int = DEFAULT_EARLY_FRAMES
    name: str = ""
    progress: bool = True

    # Changing these between a checkpoint and --resume would silently train a different model.
    RESUME_KEYS = ("batch", "lr", "seed", "dropout", "horizon", "fast_vocab", "dims", "schedule", "action_mode",
                   "max_episodes", "early_fraction", "early_frames")

    def __post_init__(self) -> None:
        check_dropout(self.dropout)
        problems = []
        if min(self.steps, self.batch, self.horizon, self.checkpoint_every, self.log_every) < 1:
            problems.append("steps, batch, horizon, checkpoint_every and log_every must be >= 1")
        if not 0.0 <= self.early_fraction <= 1.0 or self.early_frames < 1:
            problems.append(f"early_fraction={self.early_fraction}, early_frames={self.early_frames}: expected a "
                            "share in [0, 1] and at least 1 frame")
        if self.max_episodes < 0:
            problems.append(f"max_episodes={self.max_episodes}: expected >= 0 (0 = all)")
        if not self.lr > 0:
            problems.append(f"lr={self.lr}: expected > 0")
        if self.dims not in PRESETS:
            problems.append(f"dims={self.dims!r}: expected one of {sorted(PRESETS)}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule={self.schedule!r}: expected one of {SCHEDULES}")
        if self.action_mode not in ACTION_MODES:
            problems.append(f"action_mode={self.action_mode!r}: expected one of {ACTION_MODES}")
        if self.weights_dtype not in WEIGHT_DTYPES:
            problems.append(f"weights_dtype={self.weights_dtype!r}: expected one of {WEIGHT_DTYPES}")
        if problems:
            raise InputError("train: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "progress"}
