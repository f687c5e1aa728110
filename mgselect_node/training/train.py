"""`mgselect train`: teacher-forced training of a tiny PaliGemma-architecture VLA from expert episodes, with
MG-Select* condition dropout, resumable checkpoints and a policy bundle as the result.

What one training sample is (pi0-FAST recipe):
    prefix (token_type 0, bidirectional): <image> x tokens, <bos>, "Task: <instruction>, State: <bins>;\\nAction: "
    suffix (token_type 1, causal):        FAST tokens of actions[t:t+H] (padded with the episode's last
                                          action), then <eos>
The loss is the cross-entropy of the suffix tokens only (the terminator included: it teaches the model to
stop after exactly horizon x dim coefficients, i.e. to emit VALID sequences).

Condition dropout (MG-Select*): per sample the prompt is the full one, or the text-masked, state-masked or
both-masked variant (PromptBuilder's empty-condition format, byte for byte what the engine's reference
pass uses) with probabilities `--dropout text=P,state=P,both=P`; the rest is full. All zero = vanilla.

Dataset: a directory written by `mgselect collect` (see `load_dataset`), or any list of `Episode`s in code.
Normalization stats: q01/q99 over every state and every action frame. The FAST tokenizer is fitted on the
normalized training chunks; the prompt tokenizer on the instructions.

Checkpoints: every `--checkpoint-every` steps OUT/checkpoint/ holds a loadable float32 bundle plus
train_state.pt (optimizer, LR schedule, step, numpy + torch RNG states); `--resume` continues from it
bit-for-bit (same batches, same dropout draws). The final bundle is written to OUT (weights stored as
`--weights-dtype`, float16 by default so a tiny bundle stays near 5 MB) with OUT/training.json (config,
data summary, loss curve, time, peak RSS).

Augmentations for the simulator task (off by default; tried, did not help, see the README section):
`--color-swap P` permutes the pad colours in the image and the colour word together, `--drop-distractors P`
paints over every pad but the named one, `--mirror-joints joint1` adds every episode mirrored left-right.

Cost on this 2-core machine (no GPU), TINY dims (2.52 M parameters), batch 16, 16 image tokens, ~55-token
sequences, `--threads 1` (the other core busy with a second training): 0.18-0.20 s/step, 3000 steps in 9-10
min, peak RSS 0.8 GB (1.27 GB with --color-swap, 2.2 GB with --mirror-joints; tiny96: 0.46 s/step, 2.2 GB).
Two torch threads on a machine shared with other jobs were SLOWER (1.4-3 s/step at batch 32) than one.

Reproduce the shipped bundles (dataset: 100 expert episodes, scene seeds 0..99):
    mgselect collect --episodes 100 --seed 0 --out data/sim100
    mgselect train --data data/sim100 --out mgselect_node/policies/sim-vanilla --steps 3000 --seed 0 \\
        --dropout text=0,state=0,both=0 --threads 1 --discard-checkpoint
    mgselect train --data data/sim100 --out mgselect_node/policies/sim-mgselect-star --steps 3000 --seed 0 \\
        --dropout text=0.15,state=0.15,both=0.1 --threads 1 --discard-checkpoint
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import psutil
import torch
from transformers import PaliGemmaForConditionalGeneration

from mgselect_node.errors import InputError
from mgselect_node.model.bundle import load_bundle, save_bundle
from mgselect_node.model.images import preprocess_images
from mgselect_node.model.presets import PRESETS, TINY, build_config, build_model, image_tokens_per_camera
from mgselect_node.model.spec import PolicySpec
from mgselect_node.tokenization.action_tokenizer import ActionTokenizer
from mgselect_node.tokenization.fast_tokenizer import FastActionTokenizer
from mgselect_node.tokenization.normalization import QuantileNormalizer, discretize_state
from mgselect_node.tokenization.prompt import MASK_MODES, PromptBuilder
from mgselect_node.tokenization.text_tokenizer import EOS_ID, IMAGE_ID, PAD_ID, build_text_tokenizer

DEFAULT_HORIZON = 10
DEFAULT_STEPS = 3000
DEFAULT_BATCH = 16
DEFAULT_LR = 5e-4
DEFAULT_FAST_VOCAB = 256
DEFAULT_CHECKPOINT_EVERY = 500
DEFAULT_LOG_EVERY = 25
WARMUP_FRACTION = 0.05
MIN_LR_FRACTION = 0.1        # cosine decays to this fraction of the peak LR
WEIGHT_DECAY = 0.01
ADAM_BETAS = (0.9, 0.95)
GRAD_CLIP_NORM = 1.0
LOSS_EMA = 0.9               # smoothing of the loss shown on the progress bar
# Decode budget written into the bundle: the longest training sequence plus this slack (a model that has
# not stopped by then is not going to emit a valid chunk).
TOKEN_BUDGET_SLACK = 8
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_BUNDLE = "bundle"
TRAIN_STATE_FILE = "train_state.pt"
TRAINING_REPORT = "training.json"
# Index 0 is the full prompt; 1.. follow MASK_MODES.
PROMPT_VARIANTS: tuple[str | None, ...] = (None, *MASK_MODES)
WEIGHT_DTYPES = ("float32", "float16", "bfloat16")
# Colour-swap augmentation: a pixel counts as pad colour when at least this much of it is pad and the
# background + pad mixture explains it to within this many 0..255 units.
COLOR_SWAP_MIN_ALPHA = 0.25
COLOR_SWAP_TOLERANCE = 16.0
# A rendered pad colour lies within this distance (0..255 units) of its material colour (lighting).
COLOR_REFERENCE_TOLERANCE = 64.0
SIM_TABLE_GEOM = "table"
COLOR_MAP_SLICE = 256  # frames per slice when computing colour maps
# Model sizes: model/presets.py's presets plus TINY at the simulator's native 96 px camera with 12 px
# patches (64 image tokens instead of 16): the pads are 3-4 px wide, and a 16 px patch at 64 px blurs them.
DIMS_PRESETS = {**PRESETS, "tiny96": replace(TINY, image_size=96, patch_size=12)}


# ---------------------------------------------------------------------------------------------- data
@dataclass
class Episode:
    """One demonstration. Frame t holds the observation and the action commanded after it."""

    images: np.ndarray   # (T, cameras, H, W, 3) uint8 RGB
    states: np.ndarray   # (T, state_dim) joint positions
    actions: np.ndarray  # (T, action_dim) absolute joint targets
    instruction: str

    def __post_init__(self) -> None:
        t = len(self.states)
        if self.images.ndim != 5 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise InputError(f"episode images: expected (T, cameras, H, W, 3) uint8, got {self.images.shape} "
                             f"{self.images.dtype}")
        if t < 1 or len(self.images) != t or len(self.actions) != t:
            raise InputError(f"episode: images, states and actions need the same T >= 1 frames, got "
                             f"{len(self.images)}, {len(self.states)}, {len(self.actions)}")


@dataclass
class Dataset:
    """Episodes plus what the robot side of the bundle needs to know."""

    episodes: list[Episode]
    joint_names: list[str]
    camera_names: list[str]
    control_rate: float
    joint_lower: list[float] = field(default_factory=list)
    joint_upper: list[float] = field(default_factory=list)
    source: str = "in-memory"


def load_dataset(path: str | Path, max_episodes: int = 0) -> Dataset:
    """Read a dataset written by `mgselect collect` (datasets/episodes.py layout); first `max_episodes` only
    when > 0. Failed expert episodes (success false) are skipped: we imitate successes only."""
    from mgselect_node.datasets.episodes import DatasetError
    from mgselect_node.datasets.episodes import load_dataset as open_dataset

    try:
        data = open_dataset(path)
        info = data.info
        cameras = list(info["camera_names"])
        episodes = []
        for index in range(len(data)):
            if max_episodes and len(episodes) >= max_episodes:
                break
            ep = data.load_episode(index)
            if not ep.success:
                continue
            episodes.append(Episode(images=np.stack([ep.images[c] for c in cameras], axis=1),
                                    states=np.asarray(ep.state, np.float64),
                                    actions=np.asarray(ep.action, np.float64), instruction=ep.instruction))
    except (DatasetError, KeyError) as exc:
        raise InputError(f"--data {path}: {exc}") from exc
    if not episodes:
        raise InputError(f"--data {path}: no successful episodes to train on")
    dim = len(info["joint_names"])
    return Dataset(episodes=episodes, joint_names=list(info["joint_names"]), camera_names=cameras,
                   control_rate=float(info["fps"]), joint_lower=list(info.get("joint_lower", [])) or [],
                   joint_upper=list(info.get("joint_upper", [])) or [],
                   source=f"{Path(path).name} ({len(episodes)} episodes, {dim} joints)")


def mirrored(dataset: Dataset, joints: Sequence[str]) -> Dataset:
    """The dataset plus its mirror image: every image flipped left-right, the named joints negated in state
    and action. Exact for a scene symmetric about the camera's vertical plane (sim: the camera sits in
    the x-z plane, so flipping the image = mirroring y, which negates the base yaw `joint1`). Doubles the
    number of distinct target layouts, the thing a 100-demo policy is shortest of."""
    unknown = [j for j in joints if j not in dataset.joint_names]
    if unknown:
        raise InputError(f"--mirror-joints {list(joints)}: {unknown} not in the dataset's {dataset.joint_names}")
    sign = np.array([-1.0 if name in joints else 1.0 for name in dataset.joint_names])
    flipped = [Episode(images=np.ascontiguousarray(ep.images[:, :, :, ::-1]), states=ep.states * sign,
                       actions=ep.actions * sign, instruction=ep.instruction) for ep in dataset.episodes]
    return replace(dataset, episodes=dataset.episodes + flipped,
                   source=f"{dataset.source} + mirror ({', '.join(joints)} negated)")


def action_chunks(actions: np.ndarray, horizon: int) -> np.ndarray:
    """(T, D) -> (T, horizon, D): chunk t = actions[t:t+horizon], padded with the last action."""
    t = len(actions)
    index = np.minimum(np.arange(t)[:, None] + np.arange(horizon)[None, :], t - 1)
    return actions[index]


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
    if set(probs) - set(MASK_MODES) or any(not 0.0 <= p <= 1.0 for p in probs.values()):
        raise InputError(f"dropout {probs}: expected probabilities in [0, 1] for modes {MASK_MODES}")
    if sum(probs.values()) > 1.0 + 1e-9:
        raise InputError(f"dropout {probs}: probabilities sum to {sum(probs.values()):.3f}, expected <= 1 "
                         "(the rest is the full prompt)")


def sample_prompt_variants(rng: np.random.Generator, count: int, probs: dict[str, float]) -> np.ndarray:
    """Per sample an index into PROMPT_VARIANTS: 0 (full) or 1 + the index of the masked mode."""
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
    """Samples prepared once: resized frames, every prompt variant and the suffix token ids per sample.

    With a ColorSwap, rows of a batch may be recoloured: image pads and the instruction's colour word are
    permuted together (the prompt of such a row is rebuilt on the fly).
    """

    def __init__(self, dataset: Dataset, spec: PolicySpec, builder: PromptBuilder,
                 action_tokenizer: ActionTokenizer, vocab_size: int) -> None:
        self.spec = spec
        self.builder = builder
        state_norm = QuantileNormalizer(spec.state_q01, spec.state_q99)
        action_norm = QuantileNormalizer(spec.action_q01, spec.action_q99)
        frames, prompts, suffixes, self.instructions, self.bins = [], [[] for _ in PROMPT_VARIANTS], [], [], []
        for episode in dataset.episodes:
            chunks = action_norm.normalize(episode_chunks(episode, spec.horizon, spec.action_mode))
            tokens = action_tokenizer.encode_batch(chunks) if hasattr(action_tokenizer, "encode_batch") \
                else [action_tokenizer.encode(c) for c in chunks]
            for t in range(len(episode.states)):
                frames.append(np.stack([_fit(img, spec.image_size) for img in episode.images[t]]))
                bins = discretize_state(state_norm.normalize(episode.states[t]))
                for v, mode in enumerate(PROMPT_VARIANTS):
                    prompts[v].append(builder.token_ids(episode.instruction, bins, mode))
                self.instructions.append(episode.instruction)
                self.bins.append(bins)
                # pi0-FAST layout: FAST id k is model id vocab_size - 1 - k.
                suffixes.append([vocab_size - 1 - k for k in tokens[t]] + [EOS_ID])
        if not frames:
            raise InputError("dataset has no frames")
        self.frames = np.stack(frames)  # (N, cameras, S, S, 3) uint8
        self.prompts = prompts
        self.suffixes = suffixes
        self.max_suffix = max(len(s) for s in suffixes)
        self.color_swap: ColorSwap | None = None  # set by enable_color_swap
        self.color_maps: tuple[np.ndarray, np.ndarray] | None = None

    def enable_color_swap(self, swap: ColorSwap) -> None:
        self.color_swap = swap
        # In slices: the per-pixel, per-colour float intermediates of all frames at once would need GBs.
        parts = [swap.maps(self.frames[i:i + COLOR_MAP_SLICE]) for i in range(0, len(self.frames), COLOR_MAP_SLICE)]
        self.color_maps = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def __len__(self) -> int:
        return len(self.suffixes)

    def _prompt(self, i: int, variant: int, recolor: Recolor | None) -> list[int]:
        if recolor is None:
            return self.prompts[variant][i]
        instruction = self.color_swap.instruction(self.instructions[i], recolor.perm)
        return self.builder.token_ids(instruction, self.bins[i], PROMPT_VARIANTS[variant])

    def batch(self, indices: np.ndarray, variants: np.ndarray,
              perms: Sequence[Recolor | None] | None = None) -> Batch:
        """Rows `indices` with prompt variants `variants`; perms[r] recolours row r (None = as recorded)."""
        perms = perms if perms is not None else [None] * len(indices)
        prompts = [self._prompt(i, v, p) for i, v, p in zip(indices, variants, perms, strict=True)]
        rows = [prompt + self.suffixes[i] for prompt, i in zip(prompts, indices, strict=True)]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
        valid = torch.zeros((len(rows), width), dtype=torch.bool)
        suffix = torch.zeros((len(rows), width), dtype=torch.bool)
        for row, prompt in enumerate(prompts):
            n_all = len(rows[row])
            ids[row, :n_all] = torch.as_tensor(rows[row])
            valid[row, :n_all] = True
            suffix[row, len(prompt):n_all] = True
        frames = self.frames[indices].copy()  # (B, cameras, S, S, 3)
        for row, (i, recolor) in enumerate(zip(indices, perms, strict=True)):
            if recolor is not None:
                labels, alpha = self.color_maps
                keep = self.color_swap.target(self.instructions[i]) if recolor.erase else None
                frames[row] = self.color_swap.apply(frames[row], labels[i], alpha[i], recolor.perm, keep)
        pixels = torch.from_numpy(frames.reshape(-1, *frames.shape[2:])).permute(0, 3, 1, 2).float()
        return Batch(ids=ids, valid=valid, suffix=suffix, pixels=pixels * (2.0 / 255.0) - 1.0,
                     variants=np.asarray(variants))


class ColorSwap:
    """Augmentation for colour-named targets ("touch the red pad"): permute the pad colours in the image and
    the colour words in the instruction TOGETHER, keeping the actions. The same layout then comes with
    different target words, so the policy can only predict the action by reading the instruction; without
    it a 100-demo policy learns to ignore the words (measured: text-masked KL ~0.05, wrong-pad failures).

    Pads render flat, so a pixel is (1 - a) * background + a * pad colour (a < 1 at pad edges after
    resizing); recolouring adds a * (new - old). Rendered colours are read off the training frames (the
    most frequent pixel nearest each pad's material colour), so lighting needs no modelling.
    """

    def __init__(self, names: Sequence[str], palette: np.ndarray, background: np.ndarray) -> None:
        self.names = list(names)
        self.palette = np.asarray(palette, dtype=np.float32)  # (K, 3) rendered RGB, 0..255
        self.background = np.asarray(background, dtype=np.float32)
        self._word = re.compile(r"\b(" + "|".join(map(re.escape, self.names)) + r")\b")

    @classmethod
    def from_frames(cls, frames: np.ndarray, names: Sequence[str], materials: np.ndarray,
                    background_material: np.ndarray) -> ColorSwap:
        """frames (..., 3) uint8; materials (K, 3) / background_material (3,) in 0..1 (MJCF rgba)."""
        pixels = frames.reshape(-1, 3)
        packed = pixels.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
        values, counts = np.unique(packed, return_counts=True)
        colours = np.stack([values >> 16, (values >> 8) & 255, values & 255], axis=1).astype(np.float32)
        background = colours[np.argmax(counts)]
        references = np.vstack([np.asarray(materials, np.float32), background_material]) * 255.0
        distance = np.linalg.norm(colours[:, None] - references[None], axis=2)
        nearest = np.argmin(distance, axis=1)
        close = distance.min(axis=1) <= COLOR_REFERENCE_TOLERANCE
        palette = []
        for k, name in enumerate(names):
            mine = np.flatnonzero((nearest == k) & close)
            if mine.size == 0:
                raise InputError(f"--color-swap: no pixel of the training frames looks like the {name} pad")
            palette.append(colours[mine[np.argmax(counts[mine])]])
        return cls(names, np.stack(palette), background)

    def maps(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel: which pad colour it shows (-1 none) and how much of it (alpha), for (..., 3) frames."""
        p = frames.astype(np.float32) - self.background
        d = self.palette - self.background  # (K, 3)
        alpha = np.clip(np.einsum("...c,kc->...k", p, d) / (d * d).sum(axis=1), 0.0, 1.0)
        residual = np.linalg.norm(p[..., None, :] - alpha[..., None] * d, axis=-1)
        best = np.argmin(residual, axis=-1)
        best_alpha = np.take_along_axis(alpha, best[..., None], axis=-1)[..., 0]
        best_residual = np.take_along_axis(residual, best[..., None], axis=-1)[..., 0]
        is_pad = (best_alpha >= COLOR_SWAP_MIN_ALPHA) & (best_residual <= COLOR_SWAP_TOLERANCE)
        return np.where(is_pad, best, -1).astype(np.int8), np.where(is_pad, best_alpha, 0).astype(np.float16)

    def apply(self, frame: np.ndarray, labels: np.ndarray, alpha: np.ndarray, perm: np.ndarray,
              keep: int | None = None) -> np.ndarray:
        """Recolour pad k as pad perm[k] (frame uint8 (..., 3), labels/alpha from `maps`); with `keep`, every
        other pad is painted over with the background (only pad `keep` stays visible)."""
        shift = np.zeros((len(self.names) + 1, 3), dtype=np.float32)  # row -1 (no pad) stays 0
        shift[:-1] = self.palette[perm] - self.palette
        if keep is not None:
            others = np.arange(len(self.names)) != keep
            shift[:-1][others] = self.background - self.palette[others]
        delta = shift[labels] * alpha[..., None].astype(np.float32)
        return np.clip(frame.astype(np.float32) + delta, 0, 255).round().astype(np.uint8)

    def target(self, text: str) -> int | None:
        """Index of the first colour named in `text` (None if it names none)."""
        match = self._word.search(text)
        return self.names.index(match.group(1)) if match else None

    def instruction(self, text: str, perm: np.ndarray) -> str:
        return self._word.sub(lambda m: self.names[perm[self.names.index(m.group(1))]], text)

    def draw(self, rng: np.random.Generator, count: int, probability: float, drop: float = 0.0
             ) -> list[Recolor | None]:
        """Per row: a random colour permutation with `probability`, distractor removal with `drop`."""
        swap, erase = rng.random(count) < probability, rng.random(count) < drop
        identity = np.arange(len(self.names))
        return [Recolor(rng.permutation(len(self.names)) if s else identity, bool(e)) if s or e else None
                for s, e in zip(swap, erase, strict=True)]


@dataclass(frozen=True)
class Recolor:
    """One row's augmentation: pad k is shown as colour perm[k]; `erase` hides every non-target pad."""

    perm: np.ndarray
    erase: bool = False


def sim_color_swap(frames: np.ndarray) -> ColorSwap:
    """ColorSwap for the simulator: pad names and material colours from the simulator's MJCF."""
    from mgselect_node.sim.env import PAD_BODY, TASKS, _load_model

    model = _load_model()
    materials = []
    for name in TASKS:
        body = model.body(PAD_BODY.format(color=name)).id
        geom = int(np.flatnonzero(model.geom_bodyid == body)[0])
        materials.append(model.geom_rgba[geom, :3])
    return ColorSwap.from_frames(frames, TASKS, np.array(materials), model.geom(SIM_TABLE_GEOM).rgba[:3])


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """The engine's exact image preprocessing (resize with pad), kept as uint8 to save memory."""
    pixels = preprocess_images([image], ["camera"], size)[0]  # (3, S, S) in [-1, 1]
    return np.round((pixels.transpose(1, 2, 0) + 1.0) * (255.0 / 2.0)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- model
def prefix_lm_mask(valid: torch.Tensor, suffix: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, 1, L, L) additive mask: bidirectional over the prefix, causal over the suffix, pads invisible.

    Same semantics as transformers' PaliGemma prefix-LM (token_type_ids) and our inference backend.
    """
    width = valid.shape[1]
    causal = torch.ones((width, width), dtype=torch.bool).tril()
    allowed = valid[:, None, :] & (~suffix[:, None, :] | causal[None])
    allowed |= torch.eye(width, dtype=torch.bool)[None]  # no empty softmax row for pad queries
    zero = torch.zeros((), dtype=dtype)
    return torch.where(allowed, zero, torch.full((), torch.finfo(dtype).min, dtype=dtype))[:, None]


def suffix_logits(model: PaliGemmaForConditionalGeneration, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits predicting every suffix token (the last prompt position predicts the first action token).

    Returns (logits (M, V), targets (M,)) over all M suffix tokens of the batch.
    """
    embed = model.get_input_embeddings()
    features = model.model.get_image_features(batch.pixels).pooler_output
    rows = batch.ids.shape[0]
    features = features.reshape(rows, -1, features.shape[-1])
    embeds = embed(batch.ids)
    slots = batch.ids == IMAGE_ID
    embeds = embeds.masked_scatter(slots.unsqueeze(-1), features.to(embeds.dtype))
    positions = (batch.valid.cumsum(dim=1) - 1 + 1).clamp(min=1)  # PaliGemma counts from 1
    mask = prefix_lm_mask(batch.valid, batch.suffix, embeds.dtype)
    hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                                        use_cache=False).last_hidden_state
    predicts = batch.suffix[:, 1:]  # position p predicts token p + 1
    logits = model.lm_head(hidden[:, :-1][predicts]).float()
    return logits, batch.ids[:, 1:][predicts]


def suffix_loss(model: PaliGemmaForConditionalGeneration, batch: Batch) -> tuple[torch.Tensor, float]:
    """Mean cross-entropy over the suffix tokens, and the token accuracy (teacher forced)."""
    logits, targets = suffix_logits(model, batch)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    accuracy = float((logits.argmax(dim=-1) == targets).float().mean())
    return loss, accuracy


def lr_lambda(total_steps: int, schedule: str) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to MIN_LR_FRACTION (or constant)."""
    warmup = max(1, int(total_steps * WARMUP_FRACTION))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return MIN_LR_FRACTION + (1.0 - MIN_LR_FRACTION) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


# ---------------------------------------------------------------------------------------------- training
@dataclass
class TrainConfig:
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
    color_swap: float = 0.0
    drop_distractors: float = 0.0
    mirror_joints: list[str] = field(default_factory=list)
    log_every: int = DEFAULT_LOG_EVERY
    name: str = ""
    progress: bool = True

    # Changing these between a checkpoint and --resume would silently train a different model.
    RESUME_KEYS = ("batch", "lr", "seed", "dropout", "horizon", "fast_vocab", "dims", "schedule", "action_mode",
                   "color_swap", "drop_distractors", "mirror_joints")

    def __post_init__(self) -> None:
        check_dropout(self.dropout)
        problems = []
        if min(self.steps, self.batch, self.horizon, self.checkpoint_every, self.log_every) < 1:
            problems.append("steps, batch, horizon, checkpoint_every and log_every must be >= 1")
        if not (0.0 <= self.color_swap <= 1.0 and 0.0 <= self.drop_distractors <= 1.0):
            problems.append(f"color_swap={self.color_swap}, drop_distractors={self.drop_distractors}: "
                            "expected probabilities in [0, 1]")
        if not self.lr > 0:
            problems.append(f"lr={self.lr}: expected > 0")
        if self.dims not in DIMS_PRESETS:
            problems.append(f"dims={self.dims!r}: expected one of {sorted(DIMS_PRESETS)}")
        if self.schedule not in ("cosine", "constant"):
            problems.append(f"schedule={self.schedule!r}: expected cosine or constant")
        if self.action_mode not in ("absolute", "delta"):
            problems.append(f"action_mode={self.action_mode!r}: expected absolute or delta")
        if self.weights_dtype not in WEIGHT_DTYPES:
            problems.append(f"weights_dtype={self.weights_dtype!r}: expected one of {WEIGHT_DTYPES}")
        if problems:
            raise InputError("train: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "progress"}


def build_spec(dataset: Dataset, config: TrainConfig, image_size: int, max_tokens: int) -> PolicySpec:
    states = np.concatenate([ep.states for ep in dataset.episodes])
    # Absolute: every commanded target; delta: every offset inside every chunk.
    actions = np.concatenate([episode_chunks(ep, config.horizon, config.action_mode).reshape(-1, ep.actions.shape[1])
                              if config.action_mode == "delta" else ep.actions for ep in dataset.episodes])
    state_norm, action_norm = QuantileNormalizer.from_data(states), QuantileNormalizer.from_data(actions)
    return PolicySpec(
        name=config.name or Path(config.out).name, camera_names=list(dataset.camera_names),
        image_size=image_size, joint_names=list(dataset.joint_names), horizon=config.horizon,
        control_rate=dataset.control_rate, state_q01=state_norm.q01.tolist(), state_q99=state_norm.q99.tolist(),
        action_q01=action_norm.q01.tolist(), action_q99=action_norm.q99.tolist(),
        action_mode=config.action_mode, action_tokenizer="fast", max_action_tokens=max_tokens,
        joint_lower=list(dataset.joint_lower), joint_upper=list(dataset.joint_upper),
        description=(f"trained by `mgselect train` on {len(dataset.episodes)} episodes from {dataset.source}; "
                     f"condition dropout {config.dropout}"))


def episode_chunks(episode: Episode, horizon: int, action_mode: str) -> np.ndarray:
    """(T, horizon, D) chunks in action space: absolute targets, or (delta) targets minus the state at t."""
    chunks = action_chunks(episode.actions, horizon)
    return chunks if action_mode == "absolute" else chunks - episode.states[:, None]


def _training_chunks(dataset: Dataset, spec: PolicySpec) -> np.ndarray:
    norm = QuantileNormalizer(spec.action_q01, spec.action_q99)
    return norm.normalize(np.concatenate(
        [episode_chunks(ep, spec.horizon, spec.action_mode) for ep in dataset.episodes]))


@dataclass
class Trainer:
    """Everything a run holds; `run()` trains from `step` to `config.steps`."""

    config: TrainConfig
    spec: PolicySpec
    model: PaliGemmaForConditionalGeneration
    text_tokenizer: object
    action_tokenizer: ActionTokenizer
    data: TrainingData
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    rng: np.random.Generator
    step: int = 0
    history: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0

    def train_step(self) -> tuple[float, float]:
        self.model.train()
        indices = self.rng.integers(len(self.data), size=self.config.batch)
        variants = sample_prompt_variants(self.rng, self.config.batch, self.config.dropout)
        swap = self.data.color_swap
        perms = (swap.draw(self.rng, self.config.batch, self.config.color_swap, self.config.drop_distractors)
                 if swap is not None else None)
        loss, accuracy = suffix_loss(self.model, self.data.batch(indices, variants, perms))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), GRAD_CLIP_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return float(loss.detach()), accuracy

    def run(self) -> None:
        from tqdm import tqdm

        ema = None
        started = time.perf_counter()
        with tqdm(total=self.config.steps, initial=self.step, disable=not self.config.progress,
                  desc=f"train {self.spec.name}", unit="step", dynamic_ncols=True) as bar:
            while self.step < self.config.steps:
                loss, accuracy = self.train_step()
                ema = loss if ema is None else LOSS_EMA * ema + (1 - LOSS_EMA) * loss
                if self.step % self.config.log_every == 0 or self.step == 1:
                    self.history.append({"step": self.step, "loss": loss, "loss_ema": ema, "accuracy": accuracy,
                                         "lr": self.scheduler.get_last_lr()[0]})
                bar.set_postfix(loss=f"{ema:.3f}", acc=f"{accuracy:.2f}", refresh=False)
                bar.update(1)
                if self.step % self.config.checkpoint_every == 0 and self.step < self.config.steps:
                    self.elapsed_s += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint()
        self.elapsed_s += time.perf_counter() - started

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path:
        """Write OUT/checkpoint atomically (a temporary directory renamed over the old one)."""
        root = Path(self.config.out)
        final, tmp = root / CHECKPOINT_DIR, root / (CHECKPOINT_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save_bundle(tmp / CHECKPOINT_BUNDLE, self.spec, self.model, self.text_tokenizer, self.action_tokenizer,
                    weights_dtype="float32")
        torch.save({
            "step": self.step, "config": self.config.to_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(), "history": self.history, "elapsed_s": self.elapsed_s,
        }, tmp / TRAIN_STATE_FILE)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        return final


def _make_optimizer(model: torch.nn.Module, config: TrainConfig
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=ADAM_BETAS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.steps, config.schedule))
    return optimizer, scheduler


def _prompt_builder(text_tokenizer: object, spec: PolicySpec, model: PaliGemmaForConditionalGeneration
                    ) -> PromptBuilder:
    return PromptBuilder(text_tokenizer, spec.prompt_format, state_dim=spec.state_dim,
                         image_tokens=image_tokens_per_camera(model.config) * len(spec.camera_names))


def new_trainer(dataset: Dataset, config: TrainConfig) -> Trainer:
    """Fit stats and tokenizers, build a fresh model (seeded)."""
    dims = DIMS_PRESETS[config.dims]
    provisional = build_spec(dataset, config, dims.image_size, max_tokens=1)
    chunks = _training_chunks(dataset, provisional)
    action_tokenizer = FastActionTokenizer.fit(chunks, vocab_size=config.fast_vocab)
    max_tokens = max(len(t) for t in action_tokenizer.encode_batch(chunks)) + TOKEN_BUDGET_SLACK
    spec = build_spec(dataset, config, dims.image_size, max_tokens=max_tokens)
    text_tokenizer = build_text_tokenizer(sorted({ep.instruction for ep in dataset.episodes}))
    vocab = text_tokenizer.get_vocab_size() + action_tokenizer.vocab_size
    model = build_model(build_config(vocab, dims), seed=config.seed)
    return _assemble(dataset, config, spec, model, text_tokenizer, action_tokenizer)


def _assemble(dataset: Dataset, config: TrainConfig, spec: PolicySpec, model: PaliGemmaForConditionalGeneration,
              text_tokenizer: object, action_tokenizer: ActionTokenizer) -> Trainer:
    torch.manual_seed(config.seed)
    vocab = model.config.text_config.vocab_size
    builder = _prompt_builder(text_tokenizer, spec, model)
    data = TrainingData(dataset, spec, builder, action_tokenizer, vocab)
    if config.color_swap > 0 or config.drop_distractors > 0:
        data.enable_color_swap(sim_color_swap(data.frames))
    optimizer, scheduler = _make_optimizer(model, config)
    return Trainer(config=config, spec=spec, model=model, text_tokenizer=text_tokenizer,
                   action_tokenizer=action_tokenizer, data=data, optimizer=optimizer, scheduler=scheduler,
                   rng=np.random.default_rng(config.seed))


def resume_trainer(dataset: Dataset, config: TrainConfig) -> Trainer:
    """Continue from OUT/checkpoint: same tokenizers, stats, weights, optimizer, schedule, RNG streams."""
    root = Path(config.out) / CHECKPOINT_DIR
    state_path = root / TRAIN_STATE_FILE
    if not state_path.is_file():
        raise InputError(f"--resume: no checkpoint at {root} (expected {TRAIN_STATE_FILE} there)")
    state = torch.load(state_path, weights_only=False)
    saved = state["config"]
    changed = [k for k in TrainConfig.RESUME_KEYS if saved.get(k) != getattr(config, k)]
    if changed:
        raise InputError(f"--resume: {changed} differ from the checkpoint's "
                         f"({ {k: saved.get(k) for k in changed} }); pass the same values to continue")
    bundle = load_bundle(str(root / CHECKPOINT_BUNDLE), dtype="float32")
    trainer = _assemble(dataset, config, bundle.spec, bundle.model, bundle.text_tokenizer, bundle.action_tokenizer)
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    trainer.step = int(state["step"])
    trainer.history = list(state["history"])
    trainer.elapsed_s = float(state["elapsed_s"])
    return trainer


def train(dataset: Dataset, config: TrainConfig, resume: bool = False, keep_checkpoint: bool = True) -> Trainer:
    """Train and write the bundle to config.out; returns the trainer (model, history, timings)."""
    if config.mirror_joints:
        dataset = mirrored(dataset, config.mirror_joints)
    trainer = resume_trainer(dataset, config) if resume else new_trainer(dataset, config)
    if trainer.step >= config.steps:
        raise InputError(f"checkpoint is at step {trainer.step}, nothing to do for --steps {config.steps}")
    trainer.run()
    trainer.model.eval()
    out = Path(config.out)
    save_bundle(out, trainer.spec, trainer.model, trainer.text_tokenizer, trainer.action_tokenizer,
                weights_dtype=config.weights_dtype)
    report = {
        "config": config.to_dict(), "steps": trainer.step, "elapsed_s": round(trainer.elapsed_s, 1),
        "seconds_per_step": round(trainer.elapsed_s / max(1, trainer.step), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1), "torch_threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "data": {"source": dataset.source, "episodes": len(dataset.episodes), "samples": len(trainer.data),
                 "instructions": sorted({ep.instruction for ep in dataset.episodes}),
                 "fast_vocab": trainer.action_tokenizer.vocab_size,
                 "max_suffix_tokens": trainer.data.max_suffix},
        "history": trainer.history,
    }
    (out / TRAINING_REPORT).write_text(json.dumps(report, indent=1) + "\n")
    if not keep_checkpoint:
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
    return trainer


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux ru_maxrss is in KiB); psutil's RSS as a fallback."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return psutil.Process().memory_info().rss / 2**20


# ---------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgselect train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset directory written by `mgselect collect`")
    parser.add_argument("--max-episodes", type=int, default=0, help="use only the first N episodes (0 = all)")
    parser.add_argument("--out", required=True, help="bundle directory to write (checkpoints in OUT/checkpoint)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--lr", type=float, default=DEFAULT_LR, help="peak learning rate (AdamW)")
    parser.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                        help="after a linear warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", default="text=0,state=0,both=0",
                        help="condition dropout probabilities, e.g. text=0.15,state=0.15,both=0.1 (0 = vanilla)")
    parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON, help="action chunk length (steps)")
    parser.add_argument("--fast-vocab", type=int, default=DEFAULT_FAST_VOCAB, help="FAST BPE vocabulary size")
    parser.add_argument("--dims", choices=sorted(DIMS_PRESETS), default="tiny", help="model size preset")
    parser.add_argument("--action-mode", choices=("absolute", "delta"), default="absolute")
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY)
    parser.add_argument("--weights-dtype", choices=WEIGHT_DTYPES, default="float16",
                        help="storage dtype of the final bundle's weights (loading casts to any dtype)")
    parser.add_argument("--color-swap", type=float, default=0.0, metavar="P",
                        help="simulator datasets: with probability P per sample permute the pad colours in the "
                             "image and the colour word of the instruction together (language grounding)")
    parser.add_argument("--drop-distractors", type=float, default=0.0, metavar="P",
                        help="simulator datasets: with probability P per sample paint over every pad but the "
                             "named one (a first-order signal for finding pads by colour)")
    parser.add_argument("--mirror-joints", default="", metavar="J1,J2",
                        help="add every episode mirrored left-right with these joints negated (sim: "
                             "joint1); only for scenes symmetric about the camera's vertical plane")
    parser.add_argument("--name", default="", help="policy name in policy.yaml (default: OUT's basename)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    parser.add_argument("--discard-checkpoint", action="store_true",
                        help="delete OUT/checkpoint after the bundle is written (for shipped bundles)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch's default; 1 is fastest on a busy shared machine)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        config = TrainConfig(out=args.out, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                             dropout=parse_dropout(args.dropout), horizon=args.horizon, fast_vocab=args.fast_vocab,
                             dims=args.dims, schedule=args.schedule, action_mode=args.action_mode,
                             checkpoint_every=args.checkpoint_every, weights_dtype=args.weights_dtype,
                             color_swap=args.color_swap, drop_distractors=args.drop_distractors,
                             mirror_joints=[j.strip() for j in args.mirror_joints.split(",") if j.strip()],
                             name=args.name, progress=not args.no_progress)
        dataset = load_dataset(args.data, args.max_episodes)
        trainer = train(dataset, config, resume=args.resume, keep_checkpoint=not args.discard_checkpoint)
    except InputError as exc:
        print(f"mgselect train: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {trainer.step} steps in {trainer.elapsed_s:.0f} s "
          f"({trainer.elapsed_s / max(1, trainer.step):.3f} s/step), peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
