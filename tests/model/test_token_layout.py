import pytest

from mgselect_node.model.token_layout import TokenLayout


def test_native_layout_puts_action_zero_at_the_top():
    layout = TokenLayout(vocab_size=300, action_vocab_size=50)
    assert layout.to_model(0) == 299 and layout.to_action(299) == 0
    assert layout.first_action_model_id == 250 and layout.last_action_model_id == 299
    assert layout.terminator_id == layout.eos_id and layout.model_vocab_size == 300


def test_pi0fast_layout_skips_the_seg_tokens_and_counts_from_the_text_vocab():
    # PaliGemma: 257152 text ids, embeddings padded to 257216 rows, FAST id k at 257152 - 1 - 128 - k.
    layout = TokenLayout(vocab_size=257152, action_vocab_size=2048, action_offset=128, model_vocab_size=257216,
                         pad_id=0, eos_id=1, bos_id=2, image_id=257152, terminator_id=235371)
    assert layout.to_model(0) == 257023 and layout.first_action_model_id == 254976
    assert layout.is_action(257023) and not layout.is_action(257024) and not layout.is_action(254975)
    assert all(layout.to_action(layout.to_model(k)) == k for k in (0, 5, 2047))
    assert layout.terminator_id == 235371


def test_layout_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="do not fit"):
        TokenLayout(vocab_size=100, action_vocab_size=90, action_offset=20)
