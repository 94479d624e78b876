"""The package is grouped by pipeline stage, modules stay small and keep to themselves, notebooks stay short."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from helpers import book

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted((REPO / "helpers").rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_CELL_LINES = 30

#: The layers of helpers, bottom first: a module imports only its own unit (top-level module or sub-package)
#: and the units of the layers below its own; units of one layer import nothing of each other. "helpers" is
#: the package's own ``__init__`` (``__version__``). A new sub-package or top-level module gets its place here.
LAYERS = (
    ("storage",),  # files: atomic writes, a full disk, folder locks
    ("helpers", "labels", "profiles", "results", "video"),  # shared: vocabulary, paths, artifacts, PyAV
    ("runtime",),  # the GPU and its precision
    ("geometry", "models"),
    ("frames",),
    ("synthetic",),
    ("data",),
    ("metrics",),
    ("plots",),
    ("train",),
    ("approaches",),
    ("analysis",),
    ("book",),
)
#: Command-line entry points sit on top of every layer and may import anything (no module imports them).
ENTRY_POINTS = ("__main__", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def helpers_imports(tree: ast.AST) -> list[tuple[ast.AST, str, list[str]]]:
    """(node, imported helpers module, imported names) of every ``import helpers...`` / ``from helpers... import``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            found.append((node, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node, alias.name, []) for alias in node.names if alias.name.split(".")[0] == "helpers"]
    return found


def unit_of(module: str) -> str:
    """``helpers.train.runner`` -> ``train``, ``helpers.labels`` -> ``labels``, ``helpers`` -> ``helpers``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_imports(path: Path) -> set[str]:
    """Every helpers module ``path`` imports anywhere in it, under ``TYPE_CHECKING`` and in functions too:
    ``from helpers.train import budget`` imports ``helpers.train.budget``, ``from helpers.train.config import
    ExperimentConfig`` imports ``helpers.train.config``, ``from helpers import __version__`` ``helpers``."""
    modules = {module_name(module) for module in MODULES}
    imported = set()
    for _, module, names in helpers_imports(ast.parse(path.read_text())):
        submodules = {f"{module}.{name}" for name in names} & modules
        imported |= submodules if submodules else {module}
        imported |= {module} if len(submodules) < len(names) else set()
    return imported


def test_every_unit_has_a_layer():
    layer_units = [unit for layer in LAYERS for unit in layer]
    assert len(layer_units) == len(set(layer_units))
    units = {unit_of(module_name(path)) for path in MODULES}
    assert units == set(layer_units), f"give {sorted(units - set(layer_units))} a layer in LAYERS; " \
                                      f"remove {sorted(set(layer_units) - units)}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_imports_only_point_down(path):
    layer = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}
    importer = module_name(path)
    if importer.split(".")[-1] in ENTRY_POINTS:
        return
    for imported in module_imports(path):
        own, other = unit_of(importer), unit_of(imported)
        assert own == other or layer[other] < layer[own], \
            f"{importer} imports {imported}: {other} is not below {own} in LAYERS (move the shared part down)"


def test_no_import_cycle_between_modules():
    """No two modules import each other, even through others, even only for annotations (``TYPE_CHECKING``)."""
    graph = {module_name(path): module_imports(path) - {module_name(path)} for path in MODULES}
    done, chain = set(), []

    def visit(module: str) -> None:
        if module in chain:
            raise AssertionError("import cycle: " + " -> ".join([*chain[chain.index(module):], module]))
        if module in done:
            return
        chain.append(module)
        for target in sorted(graph[module]):
            visit(target)
        chain.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_modules_are_small(path):
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES, f"{module_name(path)}: split it by topic"


def test_every_stage_is_a_sub_package():
    stages = {"data", "synthetic", "frames", "models", "train", "approaches", "analysis", "plots"}
    assert stages <= {p.name for p in (REPO / "helpers").iterdir() if (p / "__init__.py").exists()}
    assert len([p for p in (REPO / "helpers").glob("*.py")]) <= 8, "top-level modules are the shared ones only"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_another_modules_private_names(path):
    tree = ast.parse(path.read_text())
    for node, module, names in helpers_imports(tree):
        private = [name for name in names if name.startswith("_") and name != "__version__"]
        assert not private, f"{module_name(path)} imports {private} from {module}"
    aliases = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module and node.module.split(".")[0] == "helpers" for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            assert not (node.attr.startswith("_") and not node.attr.startswith("__")), \
                f"{module_name(path)} uses {node.value.id}.{node.attr}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_helpers_modules_are_imported_at_the_top(path):
    """A helpers module imported inside a function is a hidden dependency; an import only for annotations goes
    under ``if TYPE_CHECKING:`` (where the layer and cycle tests still see it)."""
    tree = ast.parse(path.read_text())
    checking = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                and getattr(block.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(block)}
    top_level = {id(node) for node in tree.body}
    for node, module, _ in helpers_imports(tree):
        assert id(node) in top_level or id(node) in checking, f"{module_name(path)} imports {module} inside a function"


@pytest.mark.parametrize("notebook", book.notebook_paths(REPO), ids=lambda p: p.stem)
def test_notebook_cells_are_short_and_parameters_have_no_sentinels(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            assert len(source.strip().splitlines()) <= MAX_CELL_LINES, f"a {len(source.splitlines())}-line cell: " \
                                                                        f"{source[:60]!r}"
    parameters = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    # "0: the profile default", "empty: the default": a value that stands for another one
    sentinels = re.findall(r"^(\w+ = (?:\"\"|''|0|0\.0|-1|\[\])\s*#.*(?:default|empty).*)$", parameters, flags=re.M)
    assert not sentinels, f"'use the default' values in the parameters cell: {sentinels}"
