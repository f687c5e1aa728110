"""Training samples: episodes of a `mgselect collect` dataset -> (frames, prompt variants, action suffix), and
batches with MG-Select* condition dropout.

One sample (pi0-FAST recipe):
    prefix (token_type 0, bidirectional): <image> x tokens, <bos>, "Task: <instruction>, State: <bins>;\\nAction: "
    suffix (token_type 1, causal):        FAST tokens of actions[t:t+H] (padded with the episode's last
                                          action), then <eos>
Every prompt variant (full, text-, state-, both-masked: PromptBuilder's empty-condition format, byte for byte
what the engine's reference pass uses) is tokenized once up front; a batch picks one variant per row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mgselect_node.datasets.episodes import Dataset, DatasetError, Episode
from mgselect_node.errors import InputError
from mgselect_node.model.images import preprocess_images
from mgselect_node.model.spec import PolicySpec
from mgselect_node.model.token_layout import TokenLayout
from mgselect_node.tokenization.action_tokenizer import ActionTokenizer
from mgselect_node.tokenization.normalization import QuantileNormalizer, discretize_state
from mgselect_node.tokenization.prompt import MASK_MODES, PromptBuilder

# Index 0 is the full prompt; 1.. follow MASK_MODES.
PROMPT_VARIANTS: tuple[str | None, ...] = (None, *MASK_MODES)
PIXEL_SCALE = 2.0 / 255.0      # uint8 -> [-1, 1], the engine's image normalization
PIXEL_UNSCALE = 255.0 / 2.0    # and back (written out: 1 / PIXEL_SCALE may round differently)


def training_episodes(dataset: Dataset, max_episodes: int = 0) -> list[Episode]:
    """The successful episodes (we imitate successes only), the first `max_episodes` when > 0, with state and
    action in float64 (statistics and chunk offsets are computed in double precision)."""
    episodes: list[Episode] = []
    try:
        for index in range(len(dataset)):
            if max_episodes and len(episodes) >= max_episodes:
                break
            episode = dataset.load_episode(index)
            if episode.success:
                episodes.append(replace(episode, state=np.asarray(episode.state, np.float64),
                                        action=np.asarray(episode.action, np.float64)))
    except (DatasetError, KeyError) as exc:
        raise InputError(f"--data {dataset.root}: {exc}") from exc
    if not episodes:
        raise InputError(f"--data {dataset.root}: no successful episodes to train on")
    return episodes


def describe(dataset: Dataset, episodes: list[Episode]) -> str:
    """What training.json and the bundle's description say the data was."""
    return f"{Path(dataset.root).name} ({len(episodes)} episodes, {len(dataset.joint_names)} joints)"


def action_chunks(actions: np.ndarray, horizon: int) -> np.ndarray:
    """(T, D) -> (T, horizon, D): chunk t = actions[t:t+horizon], padded with the last action."""
    t = len(actions)
    index = np.minimum(np.arange(t)[:, None] + np.arange(horizon)[None, :], t - 1)
    return actions[index]


def episode_chunks(episode: Episode, horizon: int, action_mode: str) -> np.ndarray:
    """(T, horizon, D) chunks in action space: absolute targets, or (delta) targets minus the state at t."""
    chunks = action_chunks(episode.action, horizon)
    return chunks if action_mode == "absolute" else chunks - episode.state[:, None]


def sample_prompt_variants(rng: np.random.Generator, count: int, probs: dict[str, float]) -> np.ndarray:
    """Condition dropout: per sample an index into PROMPT_VARIANTS, 0 (full) or 1 + the masked mode's index."""
    masked = np.array([probs.get(mode, 0.0) for mode in MASK_MODES])
    p = np.concatenate([[max(0.0, 1.0 - masked.sum())], masked])
    return rng.choice(len(PROMPT_VARIANTS), size=count, p=p / p.sum())


@dataclass
class Batch:
    ids: torch.Tensor        # (B, L) token ids, right-padded
    valid: torch.Tensor      # (B, L) bool, real tokens
    suffix: torch.Tensor     # (B, L) bool, token_type 1 (action tokens + terminator)
    pixels: torch.Tensor     # (B * cameras, 3, S, S) float in [-1, 1]
    variants: np.ndarray     # (B,) PROMPT_VARIANTS index per row


class TrainingData:
    """Samples prepared once: resized frames, every prompt variant and the suffix token ids per sample."""

    def __init__(self, episodes: list[Episode], spec: PolicySpec, builder: PromptBuilder,
                 action_tokenizer: ActionTokenizer, layout: TokenLayout) -> None:
        self.pad_id = layout.pad_id
        state_norm = QuantileNormalizer(spec.state_q01, spec.state_q99)
        action_norm = QuantileNormalizer(spec.action_q01, spec.action_q99)
        frames, prompts, suffixes, frame_index = [], [[] for _ in PROMPT_VARIANTS], [], []
        for episode in episodes:
            chunks = action_norm.normalize(episode_chunks(episode, spec.horizon, spec.action_mode))
            tokens = action_tokenizer.encode_batch(chunks) if hasattr(action_tokenizer, "encode_batch") \
                else [action_tokenizer.encode(c) for c in chunks]
            for t in range(len(episode)):
                frames.append(np.stack([_fit(episode.images[c][t], spec.image_size) for c in spec.camera_names]))
                bins = discretize_state(state_norm.normalize(episode.state[t]))
                for v, mode in enumerate(PROMPT_VARIANTS):
                    prompts[v].append(builder.token_ids(episode.instruction, bins, mode))
                suffixes.append([layout.to_model(k) for k in tokens[t]] + [layout.terminator_id])
                frame_index.append(t)
        if not frames:
            raise InputError("dataset has no frames")
        self.frames = np.stack(frames)  # (N, cameras, S, S, 3) uint8
        self.prompts = prompts
        self.suffixes = suffixes
        self.max_suffix = max(len(s) for s in suffixes)
        self.frame_index = np.asarray(frame_index)  # (N,) time step of each sample within its episode

    def __len__(self) -> int:
        return len(self.suffixes)

    def sample_indices(self, rng: np.random.Generator, count: int, early_fraction: float,
                       early_frames: int) -> np.ndarray:
        """`count` sample rows, uniform over frames; with early_fraction > 0 that share of them is drawn from
        the frames t < early_frames (no extra draws otherwise, so plain recipes keep their batches)."""
        if early_fraction <= 0.0:
            return rng.integers(len(self), size=count)
        early = np.flatnonzero(self.frame_index < early_frames)
        n_early = round(count * early_fraction)
        return np.concatenate([early[rng.integers(len(early), size=n_early)],
                               rng.integers(len(self), size=count - n_early)])

    def batch(self, indices: np.ndarray, variants: np.ndarray) -> Batch:
        """Rows `indices` with prompt variants `variants`, right-padded."""
        prompts = [self.prompts[v][i] for i, v in zip(indices, variants, strict=True)]
        rows = [prompt + self.suffixes[i] for prompt, i in zip(prompts, indices, strict=True)]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        valid = torch.zeros((len(rows), width), dtype=torch.bool)
        suffix = torch.zeros((len(rows), width), dtype=torch.bool)
        for row, prompt in enumerate(prompts):
            n_all = len(rows[row])
            ids[row, :n_all] = torch.as_tensor(rows[row])
            valid[row, :n_all] = True
            suffix[row, len(prompt):n_all] = True
        # (B, cameras, S, S, 3) C-contiguous, so pixels below are a channels-last view: the memory layout the
        # shipped bundles were trained with (the vision tower's gradient sums in that order).
        frames = np.ascontiguousarray(self.frames[indices])
        pixels = torch.from_numpy(frames.reshape(-1, *frames.shape[2:])).permute(0, 3, 1, 2).float()
        return Batch(ids=ids, valid=valid, suffix=suffix, pixels=pixels * PIXEL_SCALE - 1.0,
                     variants=np.asarray(variants))


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """The engine's exact image preprocessing (resize with pad), kept as uint8 to save memory."""
    pixels = preprocess_images([image], ["camera"], size)[0]  # (3, S, S) in [-1, 1]
    return np.round((pixels.transpose(1, 2, 0) + 1.0) * PIXEL_UNSCALE).astype(np.uint8)
