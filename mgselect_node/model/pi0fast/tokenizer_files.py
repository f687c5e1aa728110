"""Finding and reading a pi0-FAST checkpoint's tokenizers from local files only.

A checkpoint names its tokenizers by hub id (LeRobot: `google/paligemma-3b-pt-224`,
`lerobot/fast-action-tokenizer`). Nothing is downloaded: a name resolves to, in order, the path the user
gave (node parameter / CLI option), the name itself when it is a local directory, or the newest snapshot
of that repository in the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from mgselect_node.errors import BundleError
from mgselect_node.tokenization.tokenizer_file import read_tokenizer_file

TEXT_FILE = "tokenizer.json"
SENTENCEPIECE_FILE = "tokenizer.model"


def hub_cache_dirs() -> list[Path]:
    """Where a Hugging Face cache may live, most specific first."""
    found = []
    if os.environ.get("HF_HUB_CACHE"):
        found.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        found.append(Path(os.environ["HF_HOME"]) / "hub")
    found.append(Path.home() / ".cache" / "huggingface" / "hub")
    return found


def hub_snapshot(repo_id: str) -> Path | None:
    """The snapshot `refs/main` points at, else the newest snapshot, of repo_id in a local HF cache."""
    if repo_id.count("/") != 1:
        return None
    folder = "models--" + repo_id.replace("/", "--")
    for cache in hub_cache_dirs():
        root = cache / folder
        ref = root / "refs" / "main"
        if ref.is_file() and (root / "snapshots" / ref.read_text().strip()).is_dir():
            return root / "snapshots" / ref.read_text().strip()
        snapshots = sorted((root / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime) \
            if (root / "snapshots").is_dir() else []
        if snapshots:
            return snapshots[-1]
    return None


def resolve_tokenizer_dir(what: str, explicit: str | None, name: str | None) -> Path:
    """The directory of a tokenizer; BundleError saying everything that was tried."""
    tried = []
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            return path
        raise BundleError(f"{what}: {path} (given explicitly) is not a directory")
    if name:
        if Path(name).expanduser().is_dir():
            return Path(name).expanduser()
        tried.append(f"local directory {name!r}")
        snapshot = hub_snapshot(name)
        if snapshot is not None:
            return snapshot
        tried.append(f"Hugging Face cache snapshot of {name!r} in {[str(p) for p in hub_cache_dirs()]}")
    raise BundleError(f"{what}: not found (tried {'; '.join(tried) or 'nothing: no name in the checkpoint'}); "
                      "pass its local directory (nothing is downloaded)")


@dataclass(frozen=True)
class TextTokenizerIds:
    """The ids a pi0-FAST prompt and decode loop need, read from the tokenizer itself."""

    vocab_size: int   # base vocabulary, without added tokens (PaliGemma: 257152)
    pad_id: int
    eos_id: int
    bos_id: int
    image_id: int
    bar_id: int       # "|": LeRobot's and openpi's end of the action tokens


def load_text_tokenizer(directory: Path) -> tuple[Tokenizer, TextTokenizerIds]:
    """PaliGemma / Gemma tokenizer.json with `tokenizers`; BundleError if absent, corrupt or lacking ids."""
    path = directory / TEXT_FILE
    if not path.is_file():
        hint = (f" ({SENTENCEPIECE_FILE} alone is not read: every Hugging Face PaliGemma snapshot also has "
                f"{TEXT_FILE})") if (directory / SENTENCEPIECE_FILE).is_file() else ""
        raise BundleError(f"text tokenizer {directory}: missing {TEXT_FILE}{hint}")
    tokenizer = read_tokenizer_file(path)
    names = {"pad_id": "<pad>", "eos_id": "<eos>", "bos_id": "<bos>", "image_id": "<image>", "bar_id": "|"}
    ids = {field: tokenizer.token_to_id(token) for field, token in names.items()}
    missing = [names[field] for field, value in ids.items() if value is None]
    if missing:
        raise BundleError(f"text tokenizer {path}: no token(s) {missing}; expected a PaliGemma/Gemma tokenizer")
    return tokenizer, TextTokenizerIds(vocab_size=tokenizer.get_vocab_size(with_added_tokens=False), **ids)
