"""Synthetic tokenizers shaped like the real ones: a Gemma-style text tokenizer and a byte-level BPE FAST
action tokenizer (the LeRobot golden files in tests/data and `mgselect bench --preset pi0fast` use them).

Why synthetic: nothing can be downloaded here, yet LeRobot and our adapter must run on tokenizer files with
the same structure as `google/paligemma-3b-pt-224` and `lerobot/fast-action-tokenizer`:
- text: a `tokenizers` BPE model with byte fallback, the "▁" space normalizer, pad 0 / eos 1 / bos 2,
  `<image>` as an added token right after the base vocabulary, `<loc....>` and `<seg...>` ids at the top,
  digits as single tokens, and ids in the FAST range that are ordinary (unused) vocabulary entries;
- FAST: `processor_config.json` (scale, vocab_size, min_token) and a ByteLevel BPE `tokenizer.json`
  trained on DCT-coefficient strings exactly the way the FAST processor does it, saved at the root and
  under `bpe_tokenizer/` (transformers >= 5.1 layout).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.fft import dct
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.implementations import ByteLevelBPETokenizer
from tokenizers.trainers import BpeTrainer

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
CHARS = list("▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:,;|.\n-_'!?()")
# Whole words (BPE merges build them left to right); a leading "▁" means "after a space".
WORDS = ["Task", "State", "Action", "▁State", "▁pick", "▁up", "▁the", "▁red", "▁blue", "▁green", "▁cube",
         "▁place", "▁it", "▁in", "▁bowl", "▁open", "▁drawer", "▁close", "▁move", "▁left", "▁right", "▁to",
         "pick", "open", "move", "close", "stack", "▁stack", "push", "▁push", "▁button", "▁and", "wave"]
LOC_TOKENS = 64      # PaliGemma has 1024 <loc> ids below the 128 <seg> ids; a few keep the shape here
SEG_TOKENS = 128     # = fast_skip_tokens: FAST ids start right below them


def build_text_tokenizer(vocab_size: int) -> Tokenizer:
    """Gemma-layout BPE tokenizer with `vocab_size` base ids; `<image>` is added as id `vocab_size`."""
    vocab: dict[str, int] = {}
    merges: list[tuple[str, str]] = []

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    for token in SPECIALS:
        add(token)
    for byte in range(256):
        add(f"<0x{byte:02X}>")
    for ch in CHARS:
        add(ch)
    for word in WORDS:
        left = word[0]
        for ch in word[1:]:
            merged = left + ch
            if merged not in vocab:
                merges.append((left, ch))
                add(merged)
            left = merged
    first_loc = vocab_size - SEG_TOKENS - LOC_TOKENS
    if len(vocab) > first_loc:
        raise ValueError(f"text vocabulary of {len(vocab)} entries does not fit under id {first_loc}")
    filler = 0
    while len(vocab) < first_loc:
        add(f"<unused{filler}>")
        filler += 1
    for k in range(LOC_TOKENS):
        add(f"<loc{k:04d}>")
    for k in range(SEG_TOKENS):
        add(f"<seg{k:03d}>")
    assert len(vocab) == vocab_size
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                                     byte_fallback=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tokenizer.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    assert tokenizer.token_to_id("<image>") == vocab_size
    # As in PaliGemma's tokenizer.json: <bos> is prepended by the post-processor.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 2)])
    return tokenizer


def save_text_tokenizer(tokenizer: Tokenizer, directory: Path) -> None:
    """tokenizer.json plus the small config files transformers' GemmaTokenizer reads."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>",
              "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>", "add_bos_token": True,
              "add_eos_token": False, "clean_up_tokenization_spaces": False, "padding_side": "right",
              "model_max_length": 1000000}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    specials = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (directory / "special_tokens_map.json").write_text(json.dumps(specials, indent=1))


def fast_strings(chunks: np.ndarray, scale: float, min_token: int) -> list[str]:
    """(B, H, D) normalized chunks -> the character strings the FAST BPE is trained on / encodes."""
    coeffs = np.round(dct(chunks, axis=1, norm="ortho") * scale).astype(int)
    return ["".join(chr(max(int(c) - min_token, 0)) for c in row.reshape(-1)) for row in coeffs]


def build_fast_tokenizer(chunks: np.ndarray, vocab_size: int, scale: float, min_token: int) -> Tokenizer:
    """Train a byte-level BPE on DCT strings of `chunks` (the FAST processor's own recipe)."""
    strings = fast_strings(chunks, scale, min_token)
    bpe = ByteLevelBPETokenizer()
    trainer = BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), max_token_length=10000)
    bpe._tokenizer.train_from_iterator(strings, trainer=trainer)
    return Tokenizer.from_str(bpe._tokenizer.to_str())


def save_fast_tokenizer(tokenizer: Tokenizer, directory: Path, scale: float, min_token: int) -> None:
    """processor_config.json + the BPE file at the root and under bpe_tokenizer/ (both layouts in the wild)."""
    config = {"processor_class": "UniversalActionProcessor", "scale": scale,
              "vocab_size": tokenizer.get_vocab_size(), "min_token": min_token,
              "time_horizon": None, "action_dim": None}
    for sub in (directory, directory / "bpe_tokenizer"):
        sub.mkdir(parents=True, exist_ok=True)
        tokenizer.save(str(sub / "tokenizer.json"))
        (sub / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}, indent=1))
    (directory / "processor_config.json").write_text(json.dumps(config, indent=1))
