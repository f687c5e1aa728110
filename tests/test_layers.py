"""The package's dependency rule, checked on the source: every import points down the layer order, and no
module reaches into another package's private names. A new module fails here, not in review."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mgselect_node"
# Lower index = lower layer. A module may import its own layer and the layers below it; the tools (last
# entry) are siblings of one another and may use each other's public API.
LAYERS = [
    {"errors", "config", "contracts"},
    {"tokenization"},
    {"model"},
    {"engine"},
    {"control"},
    {"ros"},
    {"sim", "datasets", "training", "evaluation", "bag", "bench", "testing", "cli", "data", "policies"},
]
LAYER_OF = {name: index for index, names in enumerate(LAYERS) for name in names}
# The config's choices come from the engine's registries (torch-free modules, tested in tests/engine): the one
# sanctioned upward import.
ALLOWED_UPWARD = {("config", "mgselect_node.engine.strategies"), ("config", "mgselect_node.engine.scoring")}


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mgselect_node"):
            yield node.lineno, node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mgselect_node."):
                    yield node.lineno, alias.name, []


def _sanctioned(own: str, module: str, names: list[str]) -> bool:
    full = [module] if not names or (own, module) in ALLOWED_UPWARD else [f"{module}.{n}" for n in names]
    return all((own, m) in ALLOWED_UPWARD for m in full)


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for line, module, names in _imports(path):
            target = _top(module) or (names[0] if names else "")
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if target not in LAYER_OF or own not in LAYER_OF:
                problems.append(f"{where}: {own} or {target} is in no layer (add it to LAYERS)")
            elif LAYER_OF[target] > LAYER_OF[own] and not _sanctioned(own, module, names):
                problems.append(f"{where}: {own} (layer {LAYER_OF[own]}) imports the higher layer {target}")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != own:
                problems.append(f"{where}: imports private name(s) {private} from {module}")
    return problems


def test_every_import_points_down_the_layers_and_no_private_name_crosses_a_package():
    assert _violations() == []


def test_the_engine_and_control_layers_never_import_rclpy():
    offenders = []
    for layer in ("tokenization", "model", "engine", "control"):
        for path in (PACKAGE / layer).rglob("*.py"):
            text = path.read_text()
            if "import rclpy" in text or "from rclpy" in text:
                offenders.append(str(path))
    assert offenders == []
