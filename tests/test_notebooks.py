"""Every notebook in notebooks/ runs top to bottom against the demo's output (issue 9), so none rots when a
report or a column changes. They run in a real Jupyter kernel (nbclient + ipykernel), as a user opens them."""
import os
from pathlib import Path

import pytest

from conftest import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def execute(notebook: Path, out: Path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    document = nbformat.read(notebook, as_version=4)
    os.environ["CORPUS_OUT"] = str(out)  # the kernel inherits it; the notebooks default to ../out
    try:
        NotebookClient(document, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        del os.environ["CORPUS_OUT"]
    return document


def outputs_text(document) -> str:
    parts = []
    for cell in document.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") + str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_there_are_notebooks_for_each_decision():
    names = " ".join(path.name for path in NOTEBOOKS)
    for topic in ("quality", "dedup", "contamination", "training"):
        assert topic in names


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_on_the_demo_output(notebook, demo_out_with_run):
    document = execute(notebook, demo_out_with_run)
    outputs = [output for cell in document.cells for output in cell.get("outputs", [])]
    assert [o for o in outputs if o["output_type"] == "error" or o.get("name") == "stderr"] == []
    assert sum(1 for cell in document.cells if cell.cell_type == "code" and cell.outputs) >= 2


def test_quality_notebook_replays_the_runs_own_decisions(demo_out_with_run):
    text = outputs_text(execute(REPO_ROOT / "notebooks" / "1_quality_and_alpha.ipynb", demo_out_with_run))
    assert "replaying the run's alpha reproduces its decisions: True" in text


def test_training_notebook_shows_the_run_and_its_evaluation(demo_out_with_run):
    text = outputs_text(execute(REPO_ROOT / "notebooks" / "4_training_and_evaluation.ipynb", demo_out_with_run))
    assert "1 run(s): ['micro']" in text
    assert "no evaluation yet" not in text and "random_insertion" in text
