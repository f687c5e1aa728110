"""Make the installed lerobot 0.6.1 importable on Python 3.11 without torchvision.

Why: lerobot 0.6.1 declares Python >= 3.12 (PEP 695 syntax in a few lines) and imports torchvision, which
the CPU torch 2.13 wheel here has no matching build of. The pi0_fast path needs neither feature, so the
syntax is rewritten to 3.11 equivalents and torchvision is a stub whose names are inert placeholders.
Idempotent: running it twice changes nothing more.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

STUB = '''"""Inert torchvision stub for the lerobot golden-file venv (pi0_fast never calls it)."""
import importlib.abc
import importlib.machinery
import sys
import types


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return cls


class _Placeholder(metaclass=_Meta):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("torchvision is stubbed in this venv")


def _getattr(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Placeholder


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__getattr__ = _getattr
        return mod

    def exec_module(self, module):
        return None


sys.meta_path.insert(0, _Finder())
__getattr__ = _getattr
__version__ = "0.0.0+stub"
'''

# (relative file, regex, replacement): each a PEP 695 construct rewritten for Python 3.11.
REWRITES = [
    ("processor/pipeline.py", r"class DataProcessorPipeline\[TInput, TOutput\]\(HubMixin\):",
     "class DataProcessorPipeline(HubMixin, Generic[TInput, TOutput]):"),
    ("processor/pipeline.py", r"from typing import Any, TypedDict, TypeVar, cast",
     "from typing import Any, Generic, TypedDict, TypeVar, cast"),
    ("utils/io_utils.py", r"def deserialize_json_into_object\[T: JsonLike\]\(fpath: Path, obj: T\) -> T:",
     "def deserialize_json_into_object(fpath: Path, obj: Any) -> Any:"),
    ("datasets/streaming_dataset.py", r"class Backtrackable\[T\]:", "class Backtrackable:"),
    ("motors/motors_bus.py", r"^type (\w+) = ", r"\1 = "),
    ("datasets/aggregate.py", r"^type (\w+) = ", r"\1 = "),
]


def main(site: Path) -> None:
    """Apply the rewrites and install the stub under `site` (the venv's site-packages)."""
    root = site / "lerobot"
    for rel, pattern, repl in REWRITES:
        path = root / rel
        text = path.read_text()
        new = re.sub(pattern, repl, text, flags=re.M)
        if new != text:
            path.write_text(new)
            print(f"patched {rel}")
    stub = site / "torchvision"
    stub.mkdir(exist_ok=True)
    (stub / "__init__.py").write_text(STUB)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
