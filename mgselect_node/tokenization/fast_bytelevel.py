"""The FAST action tokenizer as real checkpoints ship it: `processor_config.json` + a byte-level BPE.

Why a second FAST class: the `physical-intelligence/fast` processor (and `lerobot/fast-action-tokenizer`)
writes each rounded DCT coefficient c as the character chr(max(c - min_token, 0)) and runs a ByteLevel BPE
over the UTF-8 bytes of that string. One token may hold part of a character, ids need not be contiguous and
there is no coefficient range in the file: the package's own FastActionTokenizer assumes none of that. This
class reads those files with `tokenizers` only (no remote code) and decodes two ways:
- strict (default): every id must be a vocabulary id, the bytes must be valid UTF-8 and give exactly
  horizon x action_dim coefficients, else InvalidActionTokens;
- relaxed (LeRobot parity): ids outside the vocabulary are dropped (LeRobot's tokenizer skips them),
  too few coefficients are zero-padded, too many truncated. A negative FAST id (a model id above the
  FAST range) stays invalid: LeRobot turns it into a zero chunk, which must never be executed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.fft import dct, idct
from tokenizers import Tokenizer

from mgselect_node.errors import BundleError, InputError, InvalidActionTokens
from mgselect_node.tokenization.action_tokenizer import check_chunk
from mgselect_node.tokenization.tokenizer_file import read_tokenizer_file

PROCESSOR_FILE = "processor_config.json"
BPE_FILE = "tokenizer.json"
BPE_SUBDIR = "bpe_tokenizer"  # transformers >= 5.1 saves the BPE here; older saves put it at the root
REPLACEMENT = "\ufffd"        # what the ByteLevel decoder writes for bytes that are not UTF-8


class ByteLevelFastTokenizer:
    """FAST over a byte-level BPE for chunks of shape (horizon, action_dim); see the module docstring."""

    kind: ClassVar[str] = "fast_bytelevel"

    def __init__(self, bpe: Tokenizer, horizon: int, action_dim: int, scale: float, min_token: int) -> None:
        if horizon < 1 or action_dim < 1 or not scale > 0:
            raise InputError(f"FAST: horizon={horizon}, action_dim={action_dim}, scale={scale}; expected > 0")
        self._bpe = bpe
        self.horizon, self.action_dim = int(horizon), int(action_dim)
        self.scale, self.min_token = float(scale), int(min_token)
        vocab = bpe.get_vocab()
        self.vocab_size = max(vocab.values()) + 1
        # A character has exactly one lead byte, so lead bytes per token sum to the coefficient count.
        bytes_of = _token_bytes(vocab)
        self._values = np.zeros(self.vocab_size, dtype=np.int64)
        for token, index in vocab.items():
            self._values[index] = sum(1 for b in bytes_of.get(token, b"") if b & 0xC0 != 0x80)

    def values_per_token(self) -> np.ndarray:
        return self._values.copy()

    def encode(self, chunk: Any) -> list[int]:
        """Normalized chunk (horizon, action_dim) -> BPE ids (as the FAST processor encodes)."""
        array = check_chunk(chunk, self.horizon, self.action_dim)
        coeffs = np.round(dct(array, axis=0, norm="ortho") * self.scale).astype(np.int64).reshape(-1)
        text = "".join(chr(max(int(c) - self.min_token, 0)) for c in coeffs)
        return list(self._bpe.encode(text, add_special_tokens=False).ids)

    def _text(self, ids: list[int]) -> str:
        return self._bpe.decode(ids, skip_special_tokens=False)

    def decode(self, ids: Any) -> np.ndarray:
        """Strict: exactly horizon x action_dim coefficients from known ids, else InvalidActionTokens."""
        ids = [int(i) for i in ids]
        unknown = [(pos, i) for pos, i in enumerate(ids) if not 0 <= i < self.vocab_size]
        if unknown:
            raise InvalidActionTokens(f"FAST id {unknown[0][1]} at position {unknown[0][0]} is not in the "
                                      f"{self.vocab_size}-id BPE vocabulary")
        text = self._text(ids)
        if REPLACEMENT in text:
            raise InvalidActionTokens("FAST ids do not form whole characters (bytes are not valid UTF-8)")
        if len(text) != self.horizon * self.action_dim:
            raise InvalidActionTokens(f"FAST ids decode to {len(text)} coefficients, expected horizon*dim = "
                                      f"{self.horizon}*{self.action_dim} = {self.horizon * self.action_dim}")
        return self._inverse(text)

    def decode_relaxed(self, ids: Any) -> np.ndarray:
        """LeRobot's decoding: unknown ids dropped, coefficients zero-padded or truncated to fit. A negative
        id is still InvalidActionTokens (LeRobot's zero chunk)."""
        ids = [int(i) for i in ids]
        negative = [i for i in ids if i < 0]
        if negative:
            raise InvalidActionTokens(f"FAST id {negative[0]} is negative (a model id above the FAST range); "
                                      "LeRobot would return its zero chunk here")
        text = self._text([i for i in ids if i < self.vocab_size])[: self.horizon * self.action_dim]
        return self._inverse(text, pad=True)

    def _inverse(self, text: str, pad: bool = False) -> np.ndarray:
        values = np.array([ord(ch) + self.min_token for ch in text], dtype=np.float64)
        if pad:
            values = np.pad(values, (0, self.horizon * self.action_dim - values.size))
        return idct(values.reshape(self.horizon, self.action_dim) / self.scale, axis=0, norm="ortho")

    def save(self, directory: str | Path) -> None:
        """processor_config.json + the BPE at the root and under bpe_tokenizer/ (both layouts)."""
        path = Path(directory)
        for target in (path, path / BPE_SUBDIR):
            target.mkdir(parents=True, exist_ok=True)
            self._bpe.save(str(target / BPE_FILE))
        config = {"scale": self.scale, "min_token": self.min_token, "vocab_size": self.vocab_size,
                  "time_horizon": self.horizon, "action_dim": self.action_dim}
        (path / PROCESSOR_FILE).write_text(json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path, horizon: int, action_dim: int) -> ByteLevelFastTokenizer:
        """Read a FAST processor directory; horizon and action_dim come from the policy (the processor's
        own time_horizon / action_dim are null in the published tokenizer)."""
        path = Path(directory)
        config_file = path / PROCESSOR_FILE
        try:
            config = json.loads(config_file.read_text())
            scale, min_token = float(config["scale"]), int(config["min_token"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{config_file}: missing or not a FAST processor config ({exc})") from exc
        bpe_file = next((p for p in (path / BPE_SUBDIR / BPE_FILE, path / BPE_FILE) if p.is_file()), None)
        if bpe_file is None:
            raise BundleError(f"{path}: no FAST BPE file ({BPE_SUBDIR}/{BPE_FILE} or {BPE_FILE})")
        bpe = read_tokenizer_file(bpe_file)
        return cls(bpe, horizon, action_dim, scale, min_token)

    def __repr__(self) -> str:
        return (f"ByteLevelFastTokenizer(horizon={self.horizon}, action_dim={self.action_dim}, "
                f"scale={self.scale}, min_token={self.min_token}, vocab_size={self.vocab_size})")


def _token_bytes(vocab: dict[str, int]) -> dict[str, bytes]:
    """Token string -> the bytes it stands for (ByteLevel maps each byte to one printable character)."""
    table = _byte_table()
    return {token: bytes(table[ch] for ch in token if ch in table) for token in vocab}


def _byte_table() -> dict[str, int]:
    """GPT-2's byte -> printable character table, inverted (what the ByteLevel decoder applies)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return {ch: byte for byte, ch in enumerate(chars)}
