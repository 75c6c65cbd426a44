"""docs/tour.ipynb, run from the first cell to the last in a fresh kernel, so that it cannot rot.

The notebook is stored with its outputs, so that it reads with its figures on a code host
without running. The test executes a copy in memory, fails on the first cell that raises,
and never writes the file; after a change to the notebook (or to what it shows), this
command runs it again and writes the outputs into it:

    python -m tests.test_notebook
"""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "tour.ipynb"
# Seconds a cell may take: each takes a second or two, the whole notebook well under 30 s.
CELL_TIMEOUT = 120
# Figures are stored as PNG in the file; beyond this it would be slow to open on a code host.
MAX_BYTES = 512 * 1024
STALE = "the outputs stored in docs/tour.ipynb are stale: run python -m tests.test_notebook"


def execute(notebook):
    """Run every cell of ``notebook`` (in place) in a fresh kernel in the repository's root.

    The kernel is this Python's ipykernel; the root is its working directory and on its
    path, and matplotlib draws inline whatever backend the calling shell has chosen.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    env.pop("MPLBACKEND", None)  # a headless shell's Agg would leave the figures out
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}, record_timing=False)
    client.execute(env=env)
    return notebook


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def output_kinds(cell):
    """What a cell's outputs are, without their values: ('stream', 'stdout'), ('display_data',
    ('image/png', 'text/plain')) ... in order, consecutive pieces of one stream as one."""
    kinds = []
    for output in cell.outputs:
        if output.output_type == "stream":
            kind = ("stream", output.name)
        else:
            kind = (output.output_type, tuple(sorted(output.get("data", {}))))
        if not kinds or kinds[-1] != kind or kind[0] != "stream":
            kinds.append(kind)
    return kinds


def repository_files():
    """The files and folders in the repository's root and in docs/, caches aside."""
    return {path for folder in (ROOT, ROOT / "docs") for path in folder.iterdir()
            if not (path.name.startswith(".") or path.name == "__pycache__")}


def test_the_stored_tour_was_run_top_to_bottom_with_its_figures():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    # One run from the first cell to the last, in one kernel: not cells run out of order,
    # not a notebook saved with its outputs cleared.
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), STALE
    kinds = [kind for cell in cells for kind in output_kinds(cell)]
    assert ("stream", "stderr") not in kinds, "a cell of docs/tour.ipynb warns"
    assert not any(kind == "error" for kind, _ in kinds), "a cell of docs/tour.ipynb fails"
    # The training figure, the two optimizers, ReLU beside softplus: drawn inline, as PNG.
    figures = [kind for kind in kinds if "image/png" in kind[1]]
    assert len(figures) >= 3, STALE
    assert NOTEBOOK.stat().st_size < MAX_BYTES


@pytest.mark.slow  # a kernel of its own, seconds each: left out of mutation runs
def test_the_tour_runs_in_a_fresh_kernel_and_writes_nothing():
    stored = NOTEBOOK.read_bytes()
    before = repository_files()
    notebook = execute(nbformat.reads(stored.decode("utf-8"), as_version=4))
    assert NOTEBOOK.read_bytes() == stored, "running docs/tour.ipynb rewrote it"
    written = repository_files() - before
    assert not written, f"docs/tour.ipynb wrote into the repository: {sorted(written)}"
    # The stored outputs are those of the notebook as it stands: each cell prints, draws
    # and warns exactly what it did when they were written (the numbers aside).
    expected = nbformat.reads(stored.decode("utf-8"), as_version=4)
    assert ([output_kinds(cell) for cell in code_cells(notebook)]
            == [output_kinds(cell) for cell in code_cells(expected)]), STALE


def regenerate():
    """Run the notebook and write it back with its outputs."""
    notebook = execute(nbformat.read(NOTEBOOK, as_version=4))
    nbformat.write(notebook, NOTEBOOK)
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({NOTEBOOK.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    sys.exit(regenerate())
