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
    """A helpers module imported inside a function is a hidden dependency; only an import cycle excuses it,
    and then only for annotations (``if TYPE_CHECKING:``)."""
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
