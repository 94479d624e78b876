"""What the package declares: every module helpers/ imports has a declared distribution, the lower bounds keep
Colab's preinstalled packages, requirements.txt pins exactly the declared set, and the version is stated once."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import helpers

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Import names whose distribution has another name. A module missing here maps to its own name
# (``av`` -> ``av``); an installed one is looked up in the installed metadata as well.
DISTRIBUTIONS = {
    "cv2": "opencv-python-headless",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "IPython": "ipython",
    "facenet_pytorch": "facenet-pytorch",
    "dlib": "dlib-bin",  # its wheel's top_level.txt names only _dlib_pybind11, so the metadata cannot tell
}
# Installed with `pip install --no-deps` (it pins torch<2.3): in requirements-nodeps.txt, not in pyproject.
NO_DEPS = {"facenet-pytorch"}
# Pinned in requirements.txt for the tests and the notebook runs, though helpers/ never imports them.
TOOLS = {"pytest", "nbclient"}
# What Colab's runtime preinstalls (its published package list; the file says where each version came from and
# when): `make test-colab` installs it, then the helpers on top. Installing the helpers keeps all of it but one:
# OpenCV 5 has no Haar cascades (no CascadeClassifier, no haarcascade_*.xml), which the thesis' baseline
# detector needs, so `opencv-python-headless<5` replaces Colab's 5.0 by 4.x.
COLAB_CONSTRAINTS = REPO / "constraints" / "colab-2026-08.txt"
# The lowest version of everything pyproject.toml declares: `make test-minimum` runs the unit tests on it.
MINIMUM_CONSTRAINTS = REPO / "constraints" / "minimum.txt"
REPLACED_ON_COLAB = {"opencv-python-headless"}


def pinned_versions(path: Path) -> dict[str, str]:
    """``{distribution: version}`` of a file of ``name==version`` lines."""
    return {name: next(iter(requirement.specifier)).version
            for name, requirement in pins(path.relative_to(REPO).as_posix()).items()}



def imported_modules() -> dict[str, set[str]]:
    """``{top-level module: {files of helpers/ importing it}}``, absolute imports only (relative ones are
    helpers itself), including imports inside functions."""
    modules: dict[str, set[str]] = {}
    for path in sorted((REPO / "helpers").rglob("*.py")):  # every module of every sub-package
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                modules.setdefault(name.partition(".")[0], set()).add(path.name)
    return modules


def distribution_of(module: str) -> str:
    if module in DISTRIBUTIONS:
        return DISTRIBUTIONS[module]
    installed = importlib.metadata.packages_distributions().get(module, [])
    return canonicalize_name(installed[0] if len(installed) == 1 else module)


def requirements(section: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(line) for line in section]
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


def declared() -> dict[str, Requirement]:
    """The dependencies and every extra of pyproject.toml."""
    project = PYPROJECT["project"]
    out = requirements(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        out.update(requirements(extra))
    return out


def pins(name: str) -> dict[str, Requirement]:
    lines = [line.split("#")[0].strip() for line in (REPO / name).read_text().splitlines()]
    return requirements([line for line in lines if line])


COLAB = pinned_versions(COLAB_CONSTRAINTS)


@pytest.mark.slow  # seconds of real work: make test runs it, make test-fast does not
def test_every_imported_module_is_declared():
    undeclared, dependencies, no_deps = [], declared(), pins("requirements-nodeps.txt")
    for module, files in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module == "helpers":
            continue
        distribution = distribution_of(module)
        if distribution in NO_DEPS:
            assert distribution in no_deps and distribution not in dependencies, \
                f"{distribution} belongs in requirements-nodeps.txt only (pip would downgrade torch)"
        elif distribution not in dependencies:
            undeclared.append(f"{module} ({distribution}, imported by {', '.join(sorted(files))})")
    assert not undeclared, f"imported by helpers/ but not declared in pyproject.toml: {'; '.join(undeclared)}"


def test_the_optional_video_model_library_stays_an_extra():
    assert "pytorchvideo" in imported_modules()
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "pytorchvideo" in requirements(extras["video"])
    assert "pytorchvideo" not in requirements(PYPROJECT["project"]["dependencies"])


def test_the_colab_constraints_say_where_each_version_came_from():
    for line in COLAB_CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement, _, source = line.partition("#")
            assert "Colab" in source and "20" in source, f"{requirement.strip()}: say which Colab list (and when)"
    assert {"torch", "torchvision", "numpy", "pandas", "opencv-python-headless", "ipywidgets", "gdown"} <= set(COLAB)


@pytest.mark.parametrize(("name", "colab_version"), sorted((n, v) for n, v in COLAB.items() if n in declared()))
def test_the_bounds_keep_what_colab_preinstalls_but_its_opencv(name, colab_version):
    requirement = declared()[name]
    kept = requirement.specifier.contains(colab_version)
    if name in REPLACED_ON_COLAB:
        assert not kept, f"{requirement} admits Colab's {name} {colab_version}: drop it from REPLACED_ON_COLAB"
    else:
        assert kept, f"{requirement} would make pip replace Colab's {name} {colab_version}"


def test_the_minimum_constraints_pin_every_declared_lower_bound():
    """The minimum-versions leg tests the bounds that pyproject.toml declares: a bound raised or lowered there
    without the file following would leave the new bound untested."""
    lowest = {}
    for name, requirement in declared().items():
        bounds = [spec.version for spec in requirement.specifier if spec.operator in (">=", "==")]
        assert len(bounds) == 1, f"{requirement}: one lower bound (>=) or one exact version (==)"
        lowest[name] = Version(bounds[0])
    assert {name: Version(v) for name, v in pinned_versions(MINIMUM_CONSTRAINTS).items()} == lowest


def test_pyproject_and_readme_say_that_colab_opencv_is_replaced():
    """What installing the package changes on Colab is said where a user or a maintainer looks."""
    for name in ("pyproject.toml", "README.md"):
        text = " ".join((REPO / name).read_text().split())
        assert "replaces Colab's OpenCV 5" in text, f"{name} must say that the install replaces Colab's OpenCV 5"


def test_torch_is_never_pinned_in_the_package():
    """A pin (or an upper bound) makes pip replace Colab's CUDA torch with a multi-GB download or a CPU build."""
    dependencies = requirements(PYPROJECT["project"]["dependencies"])
    for name in ("torch", "torchvision"):
        assert dependencies[name].specifier, f"{name} needs a lower bound"
        assert {spec.operator for spec in dependencies[name].specifier} == {">="}, str(dependencies[name])


def test_requirements_pin_exactly_the_declared_set():
    """`make env` installs the project with --no-deps, so requirements.txt alone must hold every declared
    dependency; and a pin nothing declares (nor a tool uses) is dead weight in every environment."""
    pinned, nodeps, dependencies = pins("requirements.txt"), pins("requirements-nodeps.txt"), declared()
    for name, requirement in {**pinned, **nodeps}.items():
        assert [spec.operator for spec in requirement.specifier] == ["=="], f"{requirement} is not an exact pin"
    assert sorted(set(dependencies) - set(pinned)) == [], "declared in pyproject.toml but not pinned"
    assert sorted(set(pinned) - set(dependencies) - TOOLS) == [], "pinned but neither declared nor a tool"
    for name, requirement in dependencies.items():
        version = next(iter(pinned[name].specifier)).version
        assert requirement.specifier.contains(version, prereleases=True), f"pin {pinned[name]} outside {requirement}"


def test_the_version_is_stated_once():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "helpers.__version__"}
    from setuptools.config.pyprojecttoml import read_configuration

    assert read_configuration(REPO / "pyproject.toml")["project"]["version"] == helpers.__version__
