"""Prefix-LM forward passes on a PaliGemma model: one padded prefill, cached single-token decode steps.

We drive the Gemma decoder directly with our own 4D masks instead of `PaliGemmaForConditionalGeneration.forward`
so that (a) the image is encoded once and shared by the conditioned and the masked prompt, (b) several prompts
of different lengths share one left-padded prefill, and (c) the decode step is one plain call over all rows.
Semantics match transformers' prefix-LM exactly: bidirectional attention over image + prompt, causal over the
action suffix, positions counted from 1 over real (non-pad) tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PaliGemmaForConditionalGeneration, StaticCache

from mgselect_node.model.token_layout import TokenLayout

# PaliGemma counts positions from 1 (transformers' modeling_paligemma).
POSITION_OFFSET = 1


@dataclass
class DecodeState:
    """Everything a decode step needs besides the next tokens; rows may be expanded after prefill."""

    cache: DynamicCache | StaticCache
    key_valid: torch.Tensor       # (rows, capacity) bool: which cache slots hold real tokens
    length: int                   # slots used so far
    next_position: torch.Tensor   # (rows,) position id of the next token



class VLABackend:
    """Thin, stateless wrapper: embeddings, masks, positions and cache handling for one model."""

    def __init__(self, model: PaliGemmaForConditionalGeneration, layout: TokenLayout) -> None:
        self.model = model
        self.layout = layout
        self.language_model = model.model.language_model
        self.embed = model.get_input_embeddings()
        self.lm_head = model.lm_head
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._min = torch.finfo(self.dtype).min
        self._static_caches: dict[tuple[int, int], StaticCache] = {}

    @property
    def context_size(self) -> int | None:
        """Positions the language model was built for (None when its config does not say)."""
        value = getattr(self.language_model.config, "max_position_embeddings", None)
        return int(value) if value else None

    @torch.inference_mode()
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """(cameras, 3, S, S) -> (cameras * tokens_per_camera, hidden) in the language model's space."""
        return self.image_features(pixels)

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """encode_images without inference mode, so gradients flow (training); (N, 3, S, S) -> (N * tokens, hidden)."""
        features = self.model.model.get_image_features(pixels.to(self.device, self.dtype)).pooler_output
        return features.reshape(-1, features.shape[-1])

    def _embed_prompts(self, prompts: Sequence[Sequence[int]], image_embeds: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad prompts, embed, put the image features at the <image> slots. Returns (embeds, valid)."""
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.layout.pad_id, dtype=torch.long)
        valid = torch.zeros((len(prompts), width), dtype=torch.bool)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.as_tensor(prompt, dtype=torch.long)
            valid[row, width - len(prompt):] = True
        ids, valid = ids.to(self.device), valid.to(self.device)
        return self._embed_with_images(ids, image_embeds.repeat(len(prompts), 1)), valid

    def _embed_with_images(self, ids: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        """Embed (rows, L) ids and put `image_embeds` (rows * slots per row, hidden), row by row, at the <image>
        slots."""
        image_slots = ids == self.layout.image_id
        # pi0-FAST's <image> id lies past the embedding rows: embed a pad there, the image features replace it.
        embeds = self.embed(ids.masked_fill(image_slots, self.layout.pad_id))
        per_row = image_slots.sum(dim=1)
        expected = image_embeds.shape[0] // max(1, len(ids))
        if not bool((per_row == expected).all()) or expected * len(ids) != image_embeds.shape[0]:
            raise ValueError(f"every prompt needs {expected} <image> slots, got {per_row.tolist()}")
        return embeds.masked_scatter(image_slots.unsqueeze(-1), image_embeds.to(embeds.dtype))

    @staticmethod
    def _positions(valid: torch.Tensor) -> torch.Tensor:
        """Position ids counted from POSITION_OFFSET over the real tokens of each row (pads reuse a neighbour's)."""
        return (valid.cumsum(dim=1) - 1 + POSITION_OFFSET).clamp(min=POSITION_OFFSET)

    def _prefix_lm_allowed(self, valid: torch.Tensor, suffix: torch.Tensor | None = None) -> torch.Tensor:
        """(rows, L, L) 'query may attend key': real tokens see every real prefix token of their row, suffix
        keys only causally. Pad queries see only themselves so no softmax row is empty (an empty row would turn
        into NaN and poison the cache)."""
        width = valid.shape[1]
        allowed = valid[:, None, :] & valid[:, :, None]
        if suffix is not None:
            causal = torch.ones((width, width), dtype=torch.bool, device=self.device).tril()
            allowed &= ~suffix[:, None, :] | causal[None]
        allowed |= torch.eye(width, dtype=torch.bool, device=self.device)[None]
        return allowed

    def teacher_forced_logits(self, ids: torch.Tensor, valid: torch.Tensor, suffix: torch.Tensor,
                              pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward (gradients on): right-padded rows of prompt + action suffix, each row with its own
        images (pixels (rows * cameras, 3, S, S)); the same prefix-LM mask, embedding and positions as
        prefill + decode. Returns (logits (M, V) float32, targets (M,)) for the M suffix tokens: position p
        predicts token p + 1, so the last prompt position predicts the first action token."""
        ids, valid, suffix = ids.to(self.device), valid.to(self.device), suffix.to(self.device)
        embeds = self._embed_with_images(ids, self.image_features(pixels))
        mask = self._additive(self._prefix_lm_allowed(valid, suffix)[:, None])
        hidden = self.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=self._positions(valid),
                                     use_cache=False).last_hidden_state
        predicts = suffix[:, 1:]
        return self.lm_head(hidden[:, :-1][predicts]).float(), ids[:, 1:][predicts]

    @torch.inference_mode()
    def prefill(self, prompts: Sequence[Sequence[int]], image_embeds: torch.Tensor, *, capacity: int
                ) -> tuple[torch.Tensor, DecodeState]:
        """One forward over all prompts (bidirectional within each). Returns last-position logits (rows, V)."""
        embeds, valid = self._embed_prompts(prompts, image_embeds)
        rows, width = valid.shape
        mask = self._additive(self._prefix_lm_allowed(valid)[:, None])  # the prompt is all prefix
        positions = self._positions(valid)
        cache = DynamicCache(config=self.language_model.config)
        hidden = self.language_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                                     past_key_values=cache, use_cache=True).last_hidden_state
        logits = self.lm_head(hidden[:, -1]).float()
        key_valid = torch.zeros((rows, capacity), dtype=torch.bool, device=self.device)
        key_valid[:, :width] = valid
        next_position = positions[:, -1] + 1
        return logits, DecodeState(cache=cache, key_valid=key_valid, length=width, next_position=next_position)

    @torch.inference_mode()
    def expand(self, state: DecodeState, repeats: int, static: bool = False) -> None:
        """Each row -> `repeats` consecutive copies, without recomputation.

        With `static`, the prefix is copied into a preallocated StaticCache of `rows * repeats` rows and
        `capacity` slots, reused across calls of the same shape: fixed tensor addresses for the whole decode
        loop (what CUDA graph capture needs) and no allocation per step.
        """
        state.key_valid = state.key_valid.repeat_interleave(repeats, dim=0)
        state.next_position = state.next_position.repeat_interleave(repeats, dim=0)
        if not static:
            state.cache.batch_repeat_interleave(repeats)
            return
        rows, capacity = state.key_valid.shape
        cache = self._static_caches.get((rows, capacity))
        if cache is None:
            cache = StaticCache(config=self.language_model.config, max_cache_len=capacity)
            self._static_caches = {(rows, capacity): cache}  # keep one shape: bounded memory
        for source, target in zip(state.cache.layers, cache.layers, strict=True):
            keys = source.keys.repeat_interleave(repeats, dim=0)
            values = source.values.repeat_interleave(repeats, dim=0)
            if not target.is_initialized:
                target.lazy_initialization(keys, values)
            target.keys[:, :, :state.length].copy_(keys)
            target.values[:, :, :state.length].copy_(values)
            target.cumulative_length.fill_(state.length)
        state.cache = cache

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, state: DecodeState) -> torch.Tensor:
        """Feed one token per row (rows, ) and return next-token logits (rows, V); advances `state`."""
        slot = state.length
        state.key_valid[:, slot] = True
        visible = state.key_valid if isinstance(state.cache, StaticCache) else state.key_valid[:, :slot + 1]
        logits = self.decode_logits(tokens.to(self.device), visible, state.next_position, state.cache)
        state.length += 1
        state.next_position = state.next_position + 1
        return logits

    def decode_logits(self, tokens: torch.Tensor, visible: torch.Tensor, positions: torch.Tensor,
                      cache: DynamicCache | StaticCache) -> torch.Tensor:
        """The forward of one decode step, (rows,) tokens -> (rows, V) float32 logits; no host sync inside, so
        it can be captured as a CUDA graph (model/cuda_graph.py) when `cache` is static."""
        mask = self._additive(visible[:, None, None, :])
        hidden = self.language_model(inputs_embeds=self.embed(tokens[:, None]), attention_mask=mask,
                                     position_ids=positions[:, None], past_key_values=cache,
                                     use_cache=True).last_hidden_state
        return self.lm_head(hidden[:, -1]).float()

    def static_cache_bytes(self) -> int:
        """Device bytes held by the preallocated static cache (reused or released by the next expand)."""
        return sum(t.numel() * t.element_size() for cache in self._static_caches.values()
                   for layer in cache.layers if layer.is_initialized for t in (layer.keys, layer.values))

    def _additive(self, allowed: torch.Tensor) -> torch.Tensor:
        """Boolean 'may attend' -> additive float mask (works for eager and SDPA attention alike)."""
        zero = torch.zeros((), dtype=self.dtype, device=self.device)
        return torch.where(allowed, zero, torch.full((), self._min, dtype=self.dtype, device=self.device))
