"""The house plan: the maths at the root stands alone; the program around it is one package."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What a learner reads, importing nothing but NumPy, the standard library and each other.
MATHS = {"layers", "activations", "losses", "heads", "optimizers", "stepping", "fast"}
# What a user runs.
TOOLS = {"main", "bench", "mutation"}


def _imported(path):
    """The top-level names of every module that a file imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_root_holds_the_maths_and_the_users_tools_only():
    assert {path.stem for path in ROOT.glob("*.py")} == MATHS | TOOLS
    assert (ROOT / "program" / "__init__.py").is_file()


def test_the_maths_imports_only_numpy_the_standard_library_and_itself():
    for name in sorted(MATHS):
        outside = _imported(ROOT / f"{name}.py") - MATHS - {"numpy"} - sys.stdlib_module_names
        assert not outside, f"{name}.py imports {sorted(outside)}"


def test_the_checker_sees_an_import_of_the_program(tmp_path):
    # The test above would pass on any file if _imported found nothing.
    leaky = tmp_path / "leaky.py"
    leaky.write_text("import numpy as np\n\ndef f():\n    from program import registry\n")
    assert _imported(leaky) == {"numpy", "program"}


def test_mutation_testing_mutates_every_module():
    import tomllib

    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    paths = set(settings["tool"]["mutmut"]["source_paths"])
    assert paths == {f"{name}.py" for name in MATHS | TOOLS} - {"mutation.py"} | {"program/"}
