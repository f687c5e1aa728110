"""Reading a `tokenizers` JSON file with an error that names the file (used by every tokenizer loader)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from mgselect_node.errors import BundleError


def read_tokenizer_file(path: Path, what: str = "tokenizer file") -> Tokenizer:
    """`path` parsed by `tokenizers` (no remote code); BundleError naming the file if it is corrupt."""
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses for parse errors
        raise BundleError(f"{path}: corrupt {what} ({exc})") from exc
