"""The sampling-and-selection engine: MG-Select and its baselines over one shared prefill.

Per control step:
1. encode the camera images once;
2. prefill the conditioned prompt (and, for MG-Select, the masked reference prompt) in ONE padded forward;
3. expand the cache to N conditioned rows + N reference rows without recomputation;
4. decode in lockstep: each step is ONE forward over all rows. Conditioned rows sample their next token at
   temperature tau; reference rows are fed the same tokens, so P_i and Q_i come out of the same call;
5. score: MG-Select = sum (or mean) over action-token positions of KL(Q_i || P_i) on temperature-1
   distributions; likelihood = summed log P of the sampled tokens; pick the best candidate that decodes.
The terminator (EOS) ends a row and is not part of its score. What each strategy decodes and how it chooses
is in engine/strategies.py; the score functions are in engine/scoring.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from mgselect_node.config import SelectionConfig, instruction_problem
from mgselect_node.engine.decoding import decode_candidate
from mgselect_node.engine.result import SelectionResult, Timing
from mgselect_node.engine.scoring import aggregate, token_kl
from mgselect_node.engine.strategies import GREEDY, SCORE_KL, Strategy, get_strategy
from mgselect_node.errors import InputError, InvalidActionTokens
from mgselect_node.model.backend import VLABackend
from mgselect_node.model.bundle import PolicyBundle
from mgselect_node.model.cuda_graph import GraphedDecodeStep
from mgselect_node.model.memory import check_decode_memory

# Static KV caches are sized in multiples of this many slots, so prompts of slightly different lengths reuse
# one preallocated cache (and one captured graph) instead of allocating per call.
STATIC_CAPACITY_BUCKET = 64
# With the CUDA graph the host checks "all rows finished" only every this many steps, so the CPU can queue
# steps ahead of the GPU; the extra steps after the end only append masked terminators (results unchanged).
GRAPH_FINISHED_CHECK_EVERY = 4


class _Timer:
    """Phase timer; synchronises CUDA so the numbers are wall-clock truth, not launch times."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._t = time.perf_counter()

    def lap(self) -> float:
        if self._cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        elapsed, self._t = (now - self._t) * 1e3, now
        return elapsed


class SelectionEngine:
    """Runs one selection per call on a loaded bundle. Holds no per-call state between calls (only reusable
    buffers: the static cache and the captured decode graph)."""

    def __init__(self, bundle: PolicyBundle, static_cache: bool = False, cuda_graph: bool | None = None) -> None:
        """cuda_graph: decode through GraphedDecodeStep (static buffers, replayed as a CUDA graph on CUDA, run
        eagerly elsewhere: tests); None = whenever the cache is static on a CUDA device."""
        self.bundle = bundle
        self.spec = bundle.spec
        self.backend = VLABackend(bundle.model, bundle.layout)
        self.static_cache = static_cache
        self.cuda_graph = static_cache and self.backend.device.type == "cuda" if cuda_graph is None else cuda_graph
        if self.cuda_graph and not static_cache:
            raise ValueError("cuda_graph=True needs static_cache=True (the graph replays on fixed cache addresses)")
        self._graph: GraphedDecodeStep | None = None
        self._memory_checked: tuple[int, int] | None = None  # (rows, capacity) last found to fit
        self.prompts = bundle.prompts
        layout = bundle.layout
        self._terminator = layout.terminator_id
        allowed = torch.zeros(layout.model_vocab_size, dtype=torch.bool)
        allowed[layout.first_action_model_id:layout.last_action_model_id + 1] = True
        allowed[self._terminator] = True
        self._allowed = allowed.to(self.backend.device)
        # complete_chunks: chunk values each model id adds; ids that are not action tokens never fit.
        tokenizer = bundle.action_tokenizer
        self._chunk_values = tokenizer.horizon * tokenizer.action_dim
        values = torch.full((layout.model_vocab_size,), self._chunk_values + 1, dtype=torch.long)
        per_action = torch.from_numpy(tokenizer.values_per_token())
        values[[layout.to_model(k) for k in range(len(per_action))]] = per_action
        self._token_values = values.to(self.backend.device)
        self._neg_inf = torch.tensor(float("-inf"), device=self.backend.device)

    # ------------------------------------------------------------------ inputs
    def check_state(self, state: np.ndarray) -> np.ndarray:
        arr = np.asarray(state, dtype=np.float64) if not isinstance(state, str) else None
        if arr is None or arr.ndim != 1 or arr.shape[0] != self.spec.state_dim:
            shape = None if arr is None else arr.shape
            raise InputError(f"state: expected {self.spec.state_dim} values for joints {self.spec.joint_names}, "
                             f"got shape {shape}")
        if not np.all(np.isfinite(arr)):
            bad = [self.spec.joint_names[i] for i in np.flatnonzero(~np.isfinite(arr))]
            raise InputError(f"state: non-finite value(s) for joint(s) {bad}")
        return arr

    def build_prompts(self, state: np.ndarray, instruction: str, mask_mode: str | None) -> list[list[int]]:
        """The conditioned prompt, plus the masked reference prompt when `mask_mode` is given."""
        if not isinstance(instruction, str):
            raise InputError(f"instruction: expected a string, got {type(instruction).__name__}")
        problem = instruction_problem(instruction)   # cheap, before any tokenizer sees it (every prompt format)
        if problem:
            raise InputError(f"instruction refused: {problem}")
        bins = self.prompts.state_bins(self.bundle.state_normalizer.normalize(state))
        prompts = [self.prompts.token_ids(instruction, bins, None)]
        if mask_mode is not None:
            prompts.append(self.prompts.token_ids(instruction, bins, mask_mode))
        return prompts

    def check_context(self, prompts: list[list[int]], budget: int) -> None:
        """InputError unless the longest prompt plus the decode budget fits the model's context: a longer
        sequence would allocate attention memory quadratic in its length (or index past the positions)."""
        context = self.backend.context_size
        need = max(len(p) for p in prompts) + budget + 1
        if context is not None and need > context:
            raise InputError(f"instruction too long for policy {self.spec.name!r}: the prompt is "
                             f"{max(len(p) for p in prompts)} tokens + {budget} action tokens > its context of "
                             f"{context} tokens; shorten the instruction by {need - context} tokens or more")

    def _budget(self, config: SelectionConfig) -> int:
        return config.max_action_tokens or self.spec.max_action_tokens

    # ------------------------------------------------------------------ main entry
    def select(self, images: Sequence[np.ndarray], state: np.ndarray, instruction: str,
               config: SelectionConfig, trace: list | None = None, fallback: bool = True,
               allowed_tokens: torch.Tensor | None = None) -> SelectionResult:
        """Choose one action chunk. `trace`, if given, receives per-step (log P, log Q) for inspection.
        fallback=False (benchmarks) skips the greedy re-run when no candidate decodes. `allowed_tokens`: see
        `generate`."""
        timer = _Timer(self.backend.device)
        timing = Timing()
        strategy = get_strategy(config.strategy)
        n = strategy.num_candidates(config.num_candidates)
        temperature = strategy.temperature(config.temperature)
        mask_mode = strategy.mask_mode(config.mask_mode)

        state = self.check_state(state)
        pixels = self.bundle.images(images, self.spec.camera_names, self.spec.image_size)
        prompts = self.build_prompts(state, instruction, mask_mode)
        self.check_context(prompts, self._budget(config))
        timing.preprocess_ms = timer.lap()

        tokens, lengths, kl, logprob = self.generate(pixels, prompts, n, temperature, config, trace, timer, timing,
                                                     allowed_tokens)
        result = self._select(tokens, lengths, kl, logprob, strategy, mask_mode, config.aggregation,
                              config.decoding)
        if fallback and not result.valid and strategy.name != GREEDY:
            greedy = self.select(images, state, instruction, config.replace(strategy=GREEDY))
            result.fallback = greedy.valid
            result.chunk, result.valid = greedy.chunk, greedy.valid
            result.reason = ("no candidate decoded to a valid action; used the greedy fallback" if greedy.valid
                             else f"no valid action: no candidate and not the greedy fallback decoded "
                                  f"({greedy.reason})")
        timing.select_ms = timer.lap()
        result.timing = timing
        return result

    def generate(self, pixels: np.ndarray, prompts: list[list[int]], n: int, temperature: float,
                 config: SelectionConfig, trace: list | None = None, timer: _Timer | None = None,
                 timing: Timing | None = None, allowed_tokens: torch.Tensor | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Prefill + lockstep decode of n candidates (and n reference rows when two prompts are given).

        allowed_tokens (benchmarks, tests; needs complete_chunks off): a (vocab,) bool mask of the tokens rows
        may draw, replacing restrict_to_action_tokens; `token_mask(terminator=False)` makes every row decode
        exactly the budget (fixed-length latency). Scores still use the unconstrained P and Q.
        Returns per-candidate model token ids (n, budget; -1 past the end), action-token counts, token KL
        and token log P (zero past each candidate's end).
        """
        if allowed_tokens is not None and config.complete_chunks:
            raise ValueError("allowed_tokens replaces the token restriction: call with complete_chunks=False")
        timer = timer or _Timer(self.backend.device)
        timing = timing or Timing()
        generator = torch.Generator(device=self.backend.device).manual_seed(config.seed)
        backend = self.backend
        budget = self._budget(config)
        reference = len(prompts) == 2
        capacity = max(len(p) for p in prompts) + len(self.prompts.suffix_prefix) + budget + 1
        if self.static_cache:  # round up so that calls share one preallocated cache shape
            capacity = -(-capacity // STATIC_CAPACITY_BUCKET) * STATIC_CAPACITY_BUCKET
        rows = n * len(prompts)
        if self._graph is not None and self._graph.shape != (rows, capacity):
            self._graph = None  # release the old cache (the graph holds it) before a new one is allocated
        self._check_memory(n, len(prompts), capacity)
        image_embeds = backend.encode_images(torch.from_numpy(pixels))
        logits, state = backend.prefill(prompts, image_embeds, capacity=capacity)
        state.next_position = state.next_position + self.prompts.position_gap  # openpi's decode quirk
        backend.expand(state, n, static=self.static_cache)  # rows: [cond] * n (+ [ref] * n)
        step, check_every = backend.step, 1
        if self.cuda_graph:
            if self._graph is None or self._graph.cache is not state.cache:
                self._graph = GraphedDecodeStep(backend, state.cache, rows, capacity)
            self._graph.bind(state)
            step, check_every = self._graph.step, GRAPH_FINISHED_CHECK_EVERY
        logits = logits.repeat_interleave(n, dim=0)
        for forced in self.prompts.suffix_prefix:  # e.g. pi0-FAST's "Action: ": fed, never sampled or scored
            logits = step(torch.full((rows,), forced, dtype=torch.long, device=backend.device), state)
        timing.prefill_ms = timer.lap()

        device = backend.device
        tokens = torch.full((n, budget), -1, dtype=torch.long, device=device)
        kl = torch.zeros((n, budget), dtype=torch.float32, device=device)
        logprob = torch.zeros((n, budget), dtype=torch.float32, device=device)
        lengths = torch.zeros(n, dtype=torch.long, device=device)
        finished = torch.zeros(n, dtype=torch.bool, device=device)
        eos = torch.full((n,), self._terminator, dtype=torch.long, device=device)
        filled = torch.zeros(n, dtype=torch.long, device=device)  # chunk values decoded so far (complete_chunks)
        allowed = (allowed_tokens.to(device) if allowed_tokens is not None
                   else self._allowed if config.restrict_to_action_tokens else None)
        for t in range(budget):
            log_p = torch.log_softmax(logits[:n], dim=-1)
            if config.complete_chunks:
                allowed = self._token_values <= (self._chunk_values - filled)[:, None]
                allowed[:, self._terminator] = filled == self._chunk_values
            choice = self._sample(logits[:n], temperature, allowed, generator)
            active = ~finished
            token = torch.where(active, choice, eos)
            is_action = active & (token != self._terminator)
            logprob[:, t] = torch.where(is_action, log_p.gather(1, token[:, None])[:, 0], 0.0)
            if reference:
                log_q = torch.log_softmax(logits[n:], dim=-1)
                kl[:, t] = torch.where(is_action, token_kl(log_q, log_p), 0.0)
                if trace is not None:
                    trace.append((log_p.cpu(), log_q.cpu()))
            elif trace is not None:
                trace.append((log_p.cpu(), None))
            tokens[:, t] = torch.where(active, token, -1)
            lengths += is_action.long()
            if config.complete_chunks:
                filled += torch.where(is_action, self._token_values[token], 0)
            finished |= active & (token == self._terminator)
            if t + 1 == budget or ((t + 1) % check_every == 0 and bool(finished.all())):
                break
            logits = step(torch.cat([token, token]) if reference else token, state)
        timing.decode_ms = timer.lap()
        return (tokens.cpu().numpy(), lengths.cpu().numpy(), kl.cpu().numpy(), logprob.cpu().numpy())

    def _check_memory(self, n: int, prompt_rows: int, capacity: int) -> None:
        """On CUDA, fail before any work when n candidates do not fit (once per shape: the first call is the
        configure-time warm-up). Raises InsufficientMemoryError naming the largest n that fits."""
        backend = self.backend
        if backend.device.type != "cuda" or self._memory_checked == (n * prompt_rows, capacity):
            return
        check_decode_memory(self.bundle.model.config, n, prompt_rows, capacity, backend.dtype, backend.device,
                            held_bytes=backend.static_cache_bytes())
        self._memory_checked = (n * prompt_rows, capacity)

    def token_mask(self, terminator: bool = True) -> torch.Tensor:
        """A fresh (vocab,) bool mask of the action tokens, plus the terminator unless terminator=False (then no
        row can stop: with `generate(allowed_tokens=...)` every row decodes exactly the token budget)."""
        mask = self._allowed.clone()  # a copy: callers may change it, the engine's own mask never changes
        if not terminator:
            mask[self._terminator] = False
        return mask

    def _sample(self, logits: torch.Tensor, temperature: float, allowed: torch.Tensor | None,
                generator: torch.Generator) -> torch.Tensor:
        """Next token per row among `allowed` (None = any): argmax at tau=0, else a seeded draw from
        softmax(logits / tau)."""
        if allowed is not None:
            logits = torch.where(allowed, logits, self._neg_inf)
        if temperature == 0.0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        # Exponential race: argmax(p / E), E ~ Exp(1), is an exact categorical draw that stays on the
        # device (no host sync, capturable in a CUDA graph) and is reproducible through `generator`.
        noise = torch.empty_like(probs).exponential_(generator=generator)
        return (probs / noise).argmax(dim=-1)

    # ------------------------------------------------------------------ scoring
    def decode_candidate(self, model_ids: Sequence[int], mode: str = "strict") -> np.ndarray:
        """Model token ids (terminator excluded) -> chunk in robot units, or InvalidActionTokens."""
        return decode_candidate(self.bundle, model_ids, mode)

    def _select(self, tokens: np.ndarray, lengths: np.ndarray, kl: np.ndarray, logprob: np.ndarray,
                strategy: Strategy, mask_mode: str | None, aggregation: str, decoding: str = "strict"
                ) -> SelectionResult:
        n = tokens.shape[0]
        candidates: list[np.ndarray | None] = []
        reasons = []
        for i in range(n):
            try:
                ids = tokens[i, :lengths[i]]
                candidates.append(self.decode_candidate(ids) if decoding == "strict"
                                  else self.decode_candidate(ids, decoding))
            except InvalidActionTokens as exc:
                candidates.append(None)
                reasons.append(f"candidate {i}: {exc}")
        kl_rows = [kl[i, :lengths[i]].astype(np.float64) for i in range(n)]
        token_logprob = [logprob[i, :lengths[i]].astype(np.float64) for i in range(n)]
        # greedy / sample report the likelihood for information but take the first valid candidate.
        raw = [aggregate(aggregation, v) for v in (kl_rows if strategy.score == SCORE_KL else token_logprob)]
        scores = np.array([s if c is not None else -np.inf for s, c in zip(raw, candidates, strict=True)])
        selected = strategy.choose(scores)
        valid = selected >= 0
        return SelectionResult(
            chunk=candidates[selected] if valid else None, candidates=candidates, scores=scores,
            token_kl=kl_rows if mask_mode else [np.zeros(0) for _ in range(n)],
            token_logprob=token_logprob,
            tokens=[[self.bundle.layout.to_action(int(t)) for t in tokens[i, :lengths[i]]] for i in range(n)],
            selected=selected, strategy=strategy.name, mask_mode=mask_mode, valid=valid,
            reason="" if valid else "; ".join(reasons))
