"""The training run: fit stats and tokenizers, build the model, step, checkpoint, write the bundle.

Normalization stats: q01/q99 over every state and every action frame of the training episodes. The FAST
tokenizer is fitted on the normalized training chunks; the prompt tokenizer on the instructions. The final
bundle goes to OUT (weights stored as `weights_dtype`, float16 by default so a tiny bundle stays near 5 MB)
with OUT/training.json (config, data summary, loss curve, time, peak RSS).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import torch
from transformers import PaliGemmaForConditionalGeneration

from mgselect_node.datasets.episodes import Dataset, Episode
from mgselect_node.errors import InputError
from mgselect_node.model.backend import VLABackend
from mgselect_node.model.bundle import native_prompts, save_bundle
from mgselect_node.model.presets import PRESETS, build_config, build_model
from mgselect_node.model.spec import PolicySpec
from mgselect_node.model.token_layout import TokenLayout
from mgselect_node.tokenization.action_tokenizer import ActionTokenizer
from mgselect_node.tokenization.fast_tokenizer import FastActionTokenizer
from mgselect_node.tokenization.normalization import QuantileNormalizer
from mgselect_node.tokenization.text_tokenizer import build_text_tokenizer
from mgselect_node.training.checkpoints import discard_checkpoint, load_checkpoint, restore_state, save_checkpoint
from mgselect_node.training.config import TrainConfig
from mgselect_node.training.loss import suffix_loss
from mgselect_node.training.samples import (
    TrainingData,
    describe,
    episode_chunks,
    sample_prompt_variants,
    training_episodes,
)
from mgselect_node.training.schedule import make_optimizer

GRAD_CLIP_NORM = 1.0
LOSS_EMA = 0.9               # smoothing of the loss shown on the progress bar
# Decode budget written into the bundle: the longest training sequence plus this slack (a model that has
# not stopped by then is not going to emit a valid chunk).
TOKEN_BUDGET_SLACK = 8
TRAINING_REPORT = "training.json"


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
    layout: TokenLayout
    source: str = ""                                       # what the data was (training.json, bundle description)
    episodes: int = 0
    instructions: list[str] = field(default_factory=list)
    step: int = 0
    history: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0
    backend: VLABackend = field(init=False)  # the model's prefix-LM forward, shared with inference

    def __post_init__(self) -> None:
        self.backend = VLABackend(self.model, self.layout)

    def train_step(self) -> tuple[float, float]:
        self.model.train()
        indices = self.data.sample_indices(self.rng, self.config.batch, self.config.early_fraction,
                                           self.config.early_frames)
        variants = sample_prompt_variants(self.rng, self.config.batch, self.config.dropout)
        loss, accuracy = suffix_loss(self.backend, self.data.batch(indices, variants))
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
                    save_checkpoint(self)
        self.elapsed_s += time.perf_counter() - started


def build_spec(dataset: Dataset, episodes: list[Episode], config: TrainConfig, image_size: int,
               max_tokens: int) -> PolicySpec:
    """The bundle's robot side: names, rates, limits and the normalization stats of these episodes."""
    states = np.concatenate([ep.state for ep in episodes])
    # Absolute: every commanded target; delta: every offset inside every chunk.
    actions = np.concatenate([episode_chunks(ep, config.horizon, config.action_mode).reshape(-1, ep.action.shape[1])
                              if config.action_mode == "delta" else ep.action for ep in episodes])
    state_norm, action_norm = QuantileNormalizer.from_data(states), QuantileNormalizer.from_data(actions)
    lower, upper = dataset.joint_limits
    return PolicySpec(
        name=config.name or Path(config.out).name, camera_names=dataset.camera_names,
        image_size=image_size, joint_names=dataset.joint_names, horizon=config.horizon,
        control_rate=dataset.fps, state_q01=state_norm.q01.tolist(), state_q99=state_norm.q99.tolist(),
        action_q01=action_norm.q01.tolist(), action_q99=action_norm.q99.tolist(),
        action_mode=config.action_mode, action_tokenizer="fast", max_action_tokens=max_tokens,
        joint_lower=lower, joint_upper=upper,
        description=(f"trained by `mgselect train` on {len(episodes)} episodes from {describe(dataset, episodes)}; "
                     f"condition dropout {config.dropout}"))


def _training_chunks(episodes: list[Episode], spec: PolicySpec) -> np.ndarray:
    norm = QuantileNormalizer(spec.action_q01, spec.action_q99)
    return norm.normalize(np.concatenate([episode_chunks(ep, spec.horizon, spec.action_mode) for ep in episodes]))


def new_trainer(dataset: Dataset, config: TrainConfig) -> Trainer:
    """Fit stats and tokenizers, build a fresh model (seeded)."""
    episodes = training_episodes(dataset, config.max_episodes)
    dims = PRESETS[config.dims]
    provisional = build_spec(dataset, episodes, config, dims.image_size, max_tokens=1)
    chunks = _training_chunks(episodes, provisional)
    action_tokenizer = FastActionTokenizer.fit(chunks, vocab_size=config.fast_vocab)
    max_tokens = max(len(t) for t in action_tokenizer.encode_batch(chunks)) + TOKEN_BUDGET_SLACK
    spec = build_spec(dataset, episodes, config, dims.image_size, max_tokens=max_tokens)
    text_tokenizer = build_text_tokenizer(sorted({ep.instruction for ep in episodes}))
    vocab = text_tokenizer.get_vocab_size() + action_tokenizer.vocab_size
    model = build_model(build_config(vocab, dims), seed=config.seed)
    return _assemble(dataset, episodes, config, spec, model, text_tokenizer, action_tokenizer)


def resume_trainer(dataset: Dataset, config: TrainConfig) -> Trainer:
    """Continue from OUT/checkpoint: same tokenizers, stats, weights, optimizer, schedule, RNG streams."""
    bundle, state = load_checkpoint(config)
    episodes = training_episodes(dataset, config.max_episodes)
    trainer = _assemble(dataset, episodes, config, bundle.spec, bundle.model, bundle.text_tokenizer,
                        bundle.action_tokenizer)
    restore_state(trainer, state)
    return trainer


def _assemble(dataset: Dataset, episodes: list[Episode], config: TrainConfig, spec: PolicySpec,
              model: PaliGemmaForConditionalGeneration, text_tokenizer: object,
              action_tokenizer: ActionTokenizer) -> Trainer:
    torch.manual_seed(config.seed)
    # The native bundle format's layout and prompts: what load_bundle gives the engine for the result.
    layout = TokenLayout(model.config.text_config.vocab_size, action_tokenizer.vocab_size)
    data = TrainingData(episodes, spec, native_prompts(text_tokenizer, spec, model.config), action_tokenizer,
                        layout)
    optimizer, scheduler = make_optimizer(model, config)
    return Trainer(config=config, spec=spec, model=model, text_tokenizer=text_tokenizer,
                   action_tokenizer=action_tokenizer, data=data, optimizer=optimizer, scheduler=scheduler,
                   rng=np.random.default_rng(config.seed), layout=layout, source=describe(dataset, episodes),
                   episodes=len(episodes), instructions=sorted({ep.instruction for ep in episodes}))


def train(dataset: Dataset, config: TrainConfig, resume: bool = False, keep_checkpoint: bool = True) -> Trainer:
    """Train and write the bundle to config.out; returns the trainer (model, history, timings)."""
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
        "data": {"source": trainer.source, "episodes": trainer.episodes,
                 "samples": len(trainer.data), "instructions": trainer.instructions,
                 "fast_vocab": trainer.action_tokenizer.vocab_size, "max_suffix_tokens": trainer.data.max_suffix},
        "history": trainer.history,
    }
    (out / TRAINING_REPORT).write_text(json.dumps(report, indent=1) + "\n")
    if not keep_checkpoint:
        discard_checkpoint(out)
    return trainer


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux ru_maxrss is in KiB); psutil's RSS as a fallback."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except (ImportError, OSError):
        return psutil.Process().memory_info().rss / 2**20
