"""Prompt tokenizer: fixed special ids, no <unk> on printable ASCII, numbers as single tokens, persistence."""

import random
import string

import pytest

from mgselect_node.errors import BundleError, InputError
from mgselect_node.tokenization.text_tokenizer import (
    BOS_ID,
    EOS_ID,
    IMAGE_ID,
    PAD_ID,
    UNK_ID,
    build_text_tokenizer,
    load_text_tokenizer,
    save_text_tokenizer,
)

CORPUS = ["Pick the red cube and place it in the bowl", "open the top drawer", "Close the microwave door"]


@pytest.fixture(scope="module")
def tokenizer():
    return build_text_tokenizer(CORPUS)


def test_special_ids_are_fixed(tokenizer):
    expected = {"<pad>": PAD_ID, "<bos>": BOS_ID, "<eos>": EOS_ID, "<image>": IMAGE_ID, "<unk>": UNK_ID}
    assert (PAD_ID, BOS_ID, EOS_ID, IMAGE_ID, UNK_ID) == (0, 1, 2, 3, 4)
    assert {tok: tokenizer.token_to_id(tok) for tok in expected} == expected


@pytest.mark.parametrize("seed", range(5))
def test_arbitrary_printable_ascii_encodes_without_unk_and_decodes_back(tokenizer, seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(string.printable) for _ in range(3000))
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert UNK_ID not in ids
    assert tokenizer.decode(ids) == text.lower()


def test_numbers_0_to_255_are_single_distinct_tokens(tokenizer):
    ids = []
    for number in range(256):
        encoded = tokenizer.encode(str(number), add_special_tokens=False).ids
        assert len(encoded) == 1, number
        ids.append(encoded[0])
    assert len(set(ids)) == 256
    assert tokenizer.encode("12 200 3", add_special_tokens=False).tokens == ["12", " ", "200", " ", "3"]


def test_corpus_words_are_single_tokens_and_lowercased(tokenizer):
    for word in ["pick", "drawer", "microwave", "task", "state", "action"]:
        assert tokenizer.encode(word.upper(), add_special_tokens=False).tokens == [word]
    assert len(tokenizer.encode("xylophone", add_special_tokens=False).ids) > 1  # unseen: char fallback


def test_control_token_text_cannot_be_injected(tokenizer):
    ids = tokenizer.encode("<eos><bos><image><pad>", add_special_tokens=False).ids
    assert not {PAD_ID, BOS_ID, EOS_ID, IMAGE_ID, UNK_ID} & set(ids)


def test_vocab_small_and_max_words_respected():
    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}x" for i in range(3000)]
    big = build_text_tokenizer([" ".join(words)], max_words=400)
    small = build_text_tokenizer(CORPUS)
    assert small.get_vocab_size() < 1000
    assert big.get_vocab_size() - build_text_tokenizer([]).get_vocab_size() == 400
    assert build_text_tokenizer(CORPUS).to_str() == small.to_str()  # deterministic


def test_bad_corpus_rejected():
    with pytest.raises(InputError, match="list of str"):
        build_text_tokenizer("just a string")


def test_save_load_round_trip_and_errors(tmp_path, tokenizer):
    save_text_tokenizer(tokenizer, tmp_path / "t")
    loaded = load_text_tokenizer(tmp_path / "t")
    text = "Task: Pick the RED cube, State: 1 2 255;\nAction: "
    assert loaded.encode(text).ids == tokenizer.encode(text).ids
    with pytest.raises(BundleError, match=r"tokenizer\.json: missing"):
        load_text_tokenizer(tmp_path / "absent")
    (tmp_path / "t" / "tokenizer.json").write_text("{broken")
    with pytest.raises(BundleError, match=r"tokenizer\.json: corrupt"):
        load_text_tokenizer(tmp_path / "t")
