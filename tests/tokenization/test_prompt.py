"""PromptBuilder: exact prompt text, masked variants differ only in the masked field (text and token ids)."""

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.tokenization.prompt import PromptBuilder
from mgselect_node.tokenization.text_tokenizer import BOS_ID, IMAGE_ID, build_text_tokenizer

STATE = [12, 200, 3]
INSTRUCTION = "pick the red cube"
IMAGE_TOKENS = 4


@pytest.fixture(scope="module")
def builder():
    return PromptBuilder(build_text_tokenizer([INSTRUCTION]), image_tokens=IMAGE_TOKENS, state_dim=3)


def split_common(a: list, b: list) -> tuple[int, int]:
    """Lengths of the common prefix and (non-overlapping) common suffix of a and b."""
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def test_prompt_texts(builder):
    assert builder.text(INSTRUCTION, STATE) == "Task: pick the red cube, State: 12 200 3;\nAction: "
    assert builder.text(INSTRUCTION, STATE, "text") == "Task: , State: 12 200 3;\nAction: "
    assert builder.text(INSTRUCTION, STATE, "state") == "Task: pick the red cube, State: ;\nAction: "
    assert builder.text(INSTRUCTION, STATE, "both") == "Task: , State: ;\nAction: "
    assert builder.text("  pick the red cube \n", np.array(STATE)) == builder.text(INSTRUCTION, STATE)


@pytest.mark.parametrize(
    ("mask", "removed_text"),
    [("text", INSTRUCTION), ("state", "12 200 3")],
)
@pytest.mark.parametrize("instruction", [INSTRUCTION, "Open drawer #3, then (carefully) close it!", "x"])
def test_masked_prompt_differs_only_in_masked_field(builder, mask, removed_text, instruction):
    removed_text = instruction.strip() if mask == "text" else removed_text
    full_text = builder.text(instruction, STATE)
    masked_text = builder.text(instruction, STATE, mask)
    prefix, suffix = split_common(full_text, masked_text)
    assert prefix + suffix == len(masked_text)
    assert full_text[prefix : len(full_text) - suffix] == removed_text

    full_ids = builder.token_ids(instruction, STATE)
    masked_ids = builder.token_ids(instruction, STATE, mask)
    prefix, suffix = split_common(full_ids, masked_ids)
    assert prefix + suffix == len(masked_ids)
    removed_ids = full_ids[prefix : len(full_ids) - suffix]
    assert removed_ids == builder.tokenizer.encode(removed_text, add_special_tokens=False).ids
    assert removed_ids  # something was actually masked


def test_both_mask_removes_exactly_both_fields(builder):
    both = builder.token_ids(INSTRUCTION, STATE, "both")
    text_masked = builder.token_ids(INSTRUCTION, STATE, "text")
    prefix, suffix = split_common(text_masked, both)
    assert prefix + suffix == len(both)
    assert text_masked[prefix : len(text_masked) - suffix] == builder.tokenizer.encode("12 200 3").ids


def test_token_ids_layout(builder):
    ids = builder.token_ids(INSTRUCTION, STATE)
    assert ids[:IMAGE_TOKENS] == [IMAGE_ID] * IMAGE_TOKENS
    assert ids[IMAGE_TOKENS] == BOS_ID
    assert ids[IMAGE_TOKENS + 1 :] == builder.tokenizer.encode(builder.text(INSTRUCTION, STATE)).ids
    assert IMAGE_ID not in ids[IMAGE_TOKENS:] and BOS_ID not in ids[IMAGE_TOKENS + 1 :]


def test_bad_inputs_rejected(builder):
    with pytest.raises(InputError, match="instruction is int; expected str"):
        builder.text(3, STATE)
    with pytest.raises(InputError, match="mask"):
        builder.text(INSTRUCTION, STATE, "image")
    with pytest.raises(InputError, match="integer bins"):
        builder.text(INSTRUCTION, [0.5, 1.0, 2.0])
    with pytest.raises(InputError, match="outside"):
        builder.text(INSTRUCTION, [0, 256, 1])
    with pytest.raises(InputError, match="has 2 values"):
        builder.text(INSTRUCTION, [0, 1], "state")


@pytest.mark.parametrize(
    "fmt",
    [
        "Task: {instruction};",
        "Task: {instruction} {state} {extra}",
        "Task:{instruction}x, State: {state};",
        "Task: {instruction!r}, State: {state};",
        "Task: {instruction}, State: {state",
    ],
)
def test_bad_prompt_formats_rejected(fmt):
    with pytest.raises(InputError, match="prompt_format"):
        PromptBuilder(build_text_tokenizer([]), fmt, image_tokens=1)


@pytest.mark.parametrize("instruction, words", [
    ("a" * 1_000_000, "characters; at most"),        # 1 MB: refused on its length alone
    ("a" * 1_500 + " cube", "word"),                 # one long word: the tokenizer's match is cubic in it
])
def test_oversized_instructions_are_refused_before_tokenization(builder, instruction, words, monkeypatch):
    def no_tokenizer(*_, **__):
        raise AssertionError("must be refused before tokenization")
    monkeypatch.setattr(builder.tokenizer, "encode", no_tokenizer, raising=False)
    with pytest.raises(InputError, match=words):
        builder.token_ids(instruction, np.array([1, 2, 3]))
