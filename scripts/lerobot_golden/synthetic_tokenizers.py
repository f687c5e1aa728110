"""The package's synthetic tokenizers (mgselect_node/model/pi0fast/synthetic_tokenizers.py), importable from
the side venv, which does not have the package installed: only `tokenizers`, numpy and scipy are needed."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mgselect_node.model.pi0fast.synthetic_tokenizers import (
    build_fast_tokenizer,
    build_text_tokenizer,
    fast_strings,
    save_fast_tokenizer,
    save_text_tokenizer,
)

__all__ = ["build_fast_tokenizer", "build_text_tokenizer", "fast_strings", "save_fast_tokenizer",
           "save_text_tokenizer"]
