"""Execute the notebooks and build the Jupyter Book (the machinery behind ``make book``).

``python -m helpers.book execute --profile smoke``  runs every numbered notebook with papermill, in order,
into ``_build/executed/<profile>/notebooks/`` (the notebooks in ``notebooks/`` stay clean); ``-p NAME=VALUE``
sets a parameter of every notebook (e.g. ``-p DATASET_DIR=/data/FakeTrue_DB``).
``python -m helpers.book build --profile smoke``    stages the book sources with those executed notebooks
and runs ``jupyter-book build -W -n`` (warnings are errors); prints where the HTML is.
``python -m helpers.book badges``                   points every link at the release tag ``v<__version__>``
(:func:`release_ref`): ``_config.yml``'s ``repository.branch`` (the book's launch buttons), each notebook's
Colab badge and install line, and README's badges and install line, all from the repository url in
``_config.yml``, the one place that names the repository. Run it after bumping ``helpers.__version__``;
``badges --check`` changes nothing and fails when a link names another ref (the release workflow runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from helpers import __version__
from helpers.profiles import PROFILES, project_root

COLAB = "https://colab.research.google.com"
BADGE_IMAGE = f"{COLAB}/assets/colab-badge.svg"
BOOK_SOURCES = ("_config.yml", "_toc.yml", "_static", "book")


STATIC_RUN_VARIABLE = "GENUINE_POSED_STATIC_RUN"  # set while `execute` runs notebooks for the static book
GLUE_PREFIX = "application/papermill.record/"  # the output format myst-nb's {glue} role and directive read


def is_static_run() -> bool:
    """True while ``execute`` runs the notebooks for the book: nobody will click on a widget, so notebooks
    show a static figure instead (kernels inherit the variable from the executing process)."""
    import os

    return os.environ.get(STATIC_RUN_VARIABLE) == "1"


class GluedText:
    """A string that displays as itself (no quotes, unlike a ``str``): pasted inline by ``{glue}``."""

    def __init__(self, text: str):
        self.text = text

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_markdown_(self) -> str:
        return self.text


def glue(name: str, value: Any) -> None:
    """Store how ``value`` displays (text, table, figure) under ``name`` in the cell's outputs, hidden, for
    the book's pages to paste with ``{glue}`../notebooks/06_comparison.ipynb::name``` (inline text) or the
    ``{glue}`` directive with ``:doc:`` (tables, figures). A ``str`` is pasted as plain text, without quotes.
    The format is myst-nb's (``myst_nb.glue(name, value, display=False)``), written here so that notebooks
    run where myst-nb is not installed (Colab) still carry their glued values."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(GluedText(value) if isinstance(value, str) else value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata)


class NotebookFailed(RuntimeError):
    """A notebook raised an error while executing."""


def root_dir() -> Path:
    root = project_root()
    if root is None:
        raise RuntimeError("run this from a checkout of the genuine-posed repository (no _toc.yml found)")
    return root


def repository(root: Path | None = None) -> dict:
    import yaml

    config = yaml.safe_load(((root or root_dir()) / "_config.yml").read_text())
    return config["repository"]


def release_ref() -> str:
    """The git ref every link opens: the release tag of this version, e.g. ``v0.1.0``. A tag rather than a
    branch, so a notebook opened from its badge installs the helpers of the same commit (on a moving
    branch the notebook and the pinned helpers drift apart)."""
    return f"v{__version__}"


def notebook_paths(root: Path | None = None) -> list[Path]:
    """The numbered notebooks, in the order they must run."""
    return sorted((root or root_dir()).glob("notebooks/[0-9][0-9]_*.ipynb"))


def colab_url(notebook: Path, root: Path | None = None) -> str:
    """Where the notebook's badge opens it in Colab: the repository of ``_config.yml`` at :func:`release_ref`."""
    root = root or root_dir()
    github = repository(root)["url"].removeprefix("https://github.com/").rstrip("/")
    relative = notebook.resolve().relative_to(root.resolve()).as_posix()
    return f"{COLAB}/github/{github}/blob/{release_ref()}/{relative}"


def colab_badge(notebook: Path, root: Path | None = None) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook, root)})"


def install_requirement(root: Path | None = None) -> str:
    """What Colab pip-installs: this package at the release tag (never a moving branch)."""
    return f"genuine-posed @ git+{repository(root)['url'].rstrip('/')}@{release_ref()}"


_BADGE_PATTERN = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\((?P<url>[^)]*)\)")
_INSTALL_PATTERN = re.compile(r"genuine-posed @ git\+[^\"'`\s]+")
_BRANCH_PATTERN = re.compile(r"(?P<key>[ \t]+branch:[ \t]*)(?P<value>[^\s#]*)")


def sync_notebook(notebook: Path, root: Path | None = None, write: bool = True) -> bool:
    """Rewrite the badge and the install line of one notebook; True when something changed (or, with
    ``write=False``, would change: the file is left as it is)."""
    content = json.loads(notebook.read_text())
    badge, install = colab_badge(notebook, root), install_requirement(root)
    changed = False
    for cell in content["cells"]:
        source = "".join(cell["source"])
        updated = _INSTALL_PATTERN.sub(install, _BADGE_PATTERN.sub(badge, source))
        if updated != source:
            cell["source"] = updated.splitlines(keepends=True)
            changed = True
    if changed and write:
        notebook.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")
    return changed


def synced_config(text: str) -> str:
    """``_config.yml``'s text with ``repository.branch`` set to :func:`release_ref` (its comments kept).
    Jupyter Book's launch buttons open the notebooks at this ref, so it must be the badges' ref."""
    lines = text.splitlines(keepends=True)
    block = next((i for i, line in enumerate(lines) if line.startswith("repository:")), None)
    if block is not None:
        for i in range(block + 1, len(lines)):
            if lines[i].strip() and not lines[i][0].isspace() and not lines[i].startswith("#"):
                break  # the next top-level key: the repository block is over
            match = _BRANCH_PATTERN.match(lines[i])
            if match:
                lines[i] = f"{match['key']}{release_ref()}{lines[i][match.end('value'):]}"
                return "".join(lines)
    raise ValueError("_config.yml has no repository.branch to point at the release tag: add `  branch: x` "
                     "under `repository:`")


def sync_config(root: Path | None = None, write: bool = True) -> bool:
    """Point ``_config.yml``'s ``repository.branch`` at the release tag; True when something changed."""
    path = (root or root_dir()) / "_config.yml"
    text = path.read_text()
    updated = synced_config(text)
    if updated != text and write:
        path.write_text(updated)
    return updated != text


def synced_readme(text: str, root: Path | None = None) -> str:
    """README's text with every Colab badge and the install line rewritten like the notebooks' (each badge
    keeps the notebook it links to; one linking to no numbered notebook is an error, not left stale)."""
    root = root or root_dir()
    notebooks = {nb.resolve().relative_to(root.resolve()).as_posix(): nb for nb in notebook_paths(root)}

    def badge(match: re.Match) -> str:
        for relative, notebook in notebooks.items():
            if match["url"].endswith("/" + relative):
                return colab_badge(notebook, root)
        raise ValueError(f"README.md has a Colab badge for {match['url']}, which is no numbered notebook")

    return _INSTALL_PATTERN.sub(install_requirement(root), _BADGE_PATTERN.sub(badge, text))


def sync_readme(root: Path | None = None, write: bool = True) -> bool:
    """Rewrite README's Colab badges and install line; True when something changed."""
    path = (root or root_dir()) / "README.md"
    text = path.read_text()
    updated = synced_readme(text, root)
    if updated != text and write:
        path.write_text(updated)
    return updated != text


def execute(
    profile: str,
    output_dir: Path | None = None,
    notebooks: list[Path] | None = None,
    parameters: dict | None = None,
) -> list[Path]:
    """Run notebooks in order with papermill, injecting ``PROFILE``; stop at the first failing one.
    The kernels see ``is_static_run()`` True (the outputs are for the static book)."""
    import os

    root = root_dir()
    output_dir = output_dir or root / "_build" / "executed" / profile / "notebooks"
    output_dir.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get(STATIC_RUN_VARIABLE)
    os.environ[STATIC_RUN_VARIABLE] = "1"
    try:
        return [_execute_one(notebook, output_dir, profile, parameters)
                for notebook in notebooks or notebook_paths(root)]
    finally:
        if previous is None:
            os.environ.pop(STATIC_RUN_VARIABLE, None)
        else:
            os.environ[STATIC_RUN_VARIABLE] = previous


def _execute_one(notebook: Path, output_dir: Path, profile: str, parameters: dict | None) -> Path:
    import papermill

    started = time.perf_counter()
    target = output_dir / notebook.name
    print(f"[{profile}] executing {notebook.name} ...", flush=True)
    try:
        papermill.execute_notebook(
            str(notebook),
            str(target),
            parameters={"PROFILE": profile, **(parameters or {})},
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as error:
        raise NotebookFailed(
            f"{notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
            f"The executed copy with the traceback is {target}"
        ) from error
    print(f"[{profile}] {notebook.name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return target


def stage(profile: str, executed_dir: Path | None = None, stage_dir: Path | None = None) -> Path:
    """Copy the book sources and the executed notebooks into one folder laid out like the repository."""
    root = root_dir()
    executed_dir = executed_dir or root / "_build" / "executed" / profile / "notebooks"
    stage_dir = stage_dir or root / "_build" / "book-src" / profile
    missing = [nb.name for nb in notebook_paths(root) if not (executed_dir / nb.name).exists()]
    if missing:
        raise FileNotFoundError(
            f"no executed copy of {', '.join(missing)} in {executed_dir}: "
            f"run `python -m helpers.book execute --profile {profile}` first"
        )
    shutil.rmtree(stage_dir, ignore_errors=True)
    stage_dir.mkdir(parents=True)
    for name in BOOK_SOURCES:
        source = root / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, stage_dir / name)
    shutil.copytree(executed_dir, stage_dir / "notebooks")
    label_with_profile(stage_dir / "_config.yml", profile)
    return stage_dir


def book_title(title: str, profile: str) -> str:
    """The title of a book built from ``profile``'s notebooks: a synthetic profile says so on every page."""
    spec = PROFILES[profile]
    return f"{title} · {profile} profile" + (" (synthetic data, not findings about people)"
                                             if spec.uses_synthetic_data else " (the real SASE-FE)")


def label_with_profile(config_file: Path, profile: str) -> None:
    """Rewrite the staged ``_config.yml``'s title with ``book_title`` (the repository's file is left as is)."""
    text = config_file.read_text()
    match = re.search(r'^title: "(?P<title>[^"]*)"$', text, flags=re.MULTILINE)
    if match is None:
        raise ValueError(f"{config_file} has no title line like 'title: \"...\"'")
    title = book_title(match["title"], profile).replace('"', "'")
    config_file.write_text(text[:match.start()] + f'title: "{title}"' + text[match.end():])


def build(profile: str, executed_dir: Path | None = None, output_dir: Path | None = None) -> Path:
    """Build the HTML book with warnings as errors; returns the path of its index.html."""
    root = root_dir()
    stage_dir = stage(profile, executed_dir)
    output_dir = output_dir or root / "_build" / "book" / profile
    shutil.rmtree(output_dir, ignore_errors=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(stage_dir), "-W", "-n", "--keep-going",
               "--path-output", str(output_dir)]
    subprocess.run(command, check=True)
    index = output_dir / "_build" / "html" / "index.html"
    print(f"The book is at {index}")
    return index


def parse_parameters(items: list[str]) -> dict[str, Any]:
    """``["EPOCHS=3", "DATASET_DIR=/data"]`` -> ``{"EPOCHS": 3, "DATASET_DIR": "/data"}``."""
    parameters = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name.isidentifier():
            raise SystemExit(f"a parameter must look like NAME=VALUE, got {item!r}")
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value
    return parameters


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["execute", "build", "badges"])
    parser.add_argument("--profile", default="smoke", choices=list(PROFILES))
    parser.add_argument("--check", action="store_true",
                        help="badges: change nothing, exit 1 when a link does not name the release tag "
                             "(the release workflow runs this before it tags)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="execute: a parameter for every notebook, e.g. -p DATASET_DIR=/data/FakeTrue_DB "
                             "(VALUE is read as JSON when it parses, else as a string)")
    args = parser.parse_args(argv)
    if args.action == "execute":
        try:
            execute(args.profile, parameters=parse_parameters(args.parameter))
        except NotebookFailed as error:
            sys.exit(str(error))
    elif args.action == "build":
        build(args.profile)
    else:
        write = not args.check
        print(f"every link -> {release_ref()}")
        stale = {"_config.yml": sync_config(write=write), "README.md": sync_readme(write=write)}
        stale.update({notebook.name: sync_notebook(notebook, write=write) for notebook in notebook_paths()})
        for name, changed in stale.items():
            print(f"{name}: {('updated' if write else 'STALE') if changed else 'up to date'}")
        if args.check and any(stale.values()):
            sys.exit(f"links that do not name {release_ref()}: run `python -m helpers.book badges` and commit")


if __name__ == "__main__":
    main()
