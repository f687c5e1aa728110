"""Where special and action tokens sit in a model's vocabulary: one object per loaded policy.

Every checkpoint format numbers its tokens differently (our bundles: pad 0, bos 1, eos 2, <image> 3 and action
id k at `vocab_size - 1 - k`; pi0-FAST: the PaliGemma ids and action id k at `vocab_size - 1 - 128 - k`). The
format adapter builds this object; the backend, the prompt builder and the engine read ids only from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mgselect_node.tokenization.text_tokenizer import BOS_ID, EOS_ID, IMAGE_ID, PAD_ID


@dataclass(frozen=True)
class TokenLayout:
    """vocab_size: the size the action-id mapping counts from (pi0-FAST: the text tokenizer's 257152, not the
    embedding rows). model_vocab_size: rows of the model's output layer (logits width), >= vocab_size.
    action_offset: ids skipped between the top of the vocabulary and action id 0 (pi0-FAST's
    `fast_skip_tokens`). terminator_id: the token that ends an action sequence (our bundles: <eos>)."""

    vocab_size: int
    action_vocab_size: int
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID
    image_id: int = IMAGE_ID
    action_offset: int = 0
    model_vocab_size: int = 0
    terminator_id: int = -1

    def __post_init__(self) -> None:
        if not self.model_vocab_size:
            object.__setattr__(self, "model_vocab_size", self.vocab_size)
        if self.terminator_id < 0:
            object.__setattr__(self, "terminator_id", self.eos_id)
        if self.first_action_model_id < 0 or self.model_vocab_size < self.vocab_size:
            raise ValueError(f"token layout: {self.action_vocab_size} action ids + offset {self.action_offset} do "
                             f"not fit a {self.vocab_size}-id vocabulary ({self.model_vocab_size} model rows)")

    def to_model(self, action_id: int) -> int:
        return self.vocab_size - 1 - self.action_offset - action_id

    def to_action(self, model_id: int) -> int:
        return self.vocab_size - 1 - self.action_offset - model_id

    @property
    def first_action_model_id(self) -> int:
        """Lowest model id that is an action token (action ids run down from the top)."""
        return self.vocab_size - self.action_offset - self.action_vocab_size

    @property
    def last_action_model_id(self) -> int:
        return self.vocab_size - 1 - self.action_offset

    def is_action(self, model_id: int) -> bool:
        return self.first_action_model_id <= model_id <= self.last_action_model_id
