"""The README as a front door, and the recipes of docs/extending.md run exactly as they stand.

The README stays short, sends a learner to the mathematics on its first screen, and its
recipe is a copy of one on docs/extending.md, whose Python blocks run here, tests included.
"""

import re
from pathlib import Path

import pytest

import main
from program import registry

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXTENDING = ROOT / "docs" / "extending.md"
# About 400 lines: what it is, the quick start, a run, the maths in one step, the problems,
# one recipe and where to go next. The rest has a page of its own in docs/.
MOST_LINES = 420
# The first screen: what a reader sees before scrolling.
FIRST_SCREEN = 40


def python_blocks(text):
    """The fenced Python blocks of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_is_a_front_door_not_the_whole_house():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MOST_LINES, (
        f"README.md has {len(lines)} lines: move a subject to its page in docs/")


def test_the_first_screen_links_to_the_mathematics_and_the_contents():
    first = "\n".join(README.read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN])
    assert "](docs/maths.md)" in first
    assert "## Contents" in first


def test_the_readmes_recipe_is_one_that_the_tests_run():
    # The README shows one recipe in brief; it must be the page's, which runs below.
    readme = python_blocks(README.read_text(encoding="utf-8"))
    page = python_blocks(EXTENDING.read_text(encoding="utf-8"))
    assert readme, "the README's Extending it shows no recipe"
    assert [block for block in readme if block not in page] == []


@pytest.fixture
def recipes(monkeypatch):
    """The namespace of the page's Python blocks, run in order; the registry put back."""
    for name in ("OPTIMIZERS", "HEADS", "DATASETS", "LAYERS", "ACTIVATIONS", "INITS",
                 "SCHEDULES"):
        monkeypatch.setattr(registry, name, dict(getattr(registry, name)))
    blocks = python_blocks(EXTENDING.read_text(encoding="utf-8"))
    assert len(blocks) >= 9
    namespace = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(EXTENDING), "exec"), namespace)
    return namespace


def test_the_recipes_own_tests_pass(recipes):
    tests = [value for name, value in recipes.items() if name.startswith("test_")]
    assert len(tests) == 6
    for test in tests:
        test()


def test_the_new_activation_trains_in_a_network(recipes):
    import numpy as np

    from optimizers import Adam

    network = recipes["network"]  # Dense, the recipe's Softplus, Dense
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 2))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    optimizer = Adam(0.02)
    first = network.forward(x, y, training=True)
    for _ in range(300):
        network.forward(x, y, training=True)
        network.backward(y)
        optimizer.step(network.trainable)
    assert network.evaluate(x, y)["loss"] < first / 3


def test_the_new_head_and_optimizer_run_from_main(recipes, tmp_path, capsys):
    flags = ["--epochs", "200", "--log-every", "100", "--no-plot", "--log-level", "WARNING"]
    assert main.main([*flags, "--dataset", "sine", "--loss", "my_huber", "--samples",
                      "100"]) == 0
    assert main.main([*flags, "--optimizer", "my_signsgd", "--learning-rate", "0.005",
                      "--metrics", str(tmp_path / "m.csv")]) == 0
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert rows[-1].split(",")[5] == "0.005"  # the learning rate column
    assert main.main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "my_signsgd (steps of one size, by the sign of the gradient)" in help_text
    assert "my_huber: linear output + Huber loss (regression)" in help_text


def test_the_new_activation_layer_schedule_and_dataset_run_from_main(recipes, tmp_path,
                                                                     capsys):
    flags = ["--epochs", "60", "--log-every", "20", "--no-plot", "--log-level", "WARNING",
             "--samples", "40", "--hidden", "8"]
    saved = tmp_path / "n.npz"
    assert main.main([*flags, "--activation", "my_softplus", "--norm", "my_rmsnorm",
                      "--schedule", "my_linear", "--save", str(saved)]) == 0
    assert main.main([*flags, "--dataset", "my_xor"]) == 0
    assert main.main(["--load", str(saved), "--epochs", "0", "--no-plot",
                      "--log-level", "WARNING"]) == 0
    capsys.readouterr()
    assert main.main([*flags[4:], "--norm", "my_rmsnorm", "--check-gradients",
                      "--epochs", "0"]) == 0
    assert "my_rmsnorm0.gain" in capsys.readouterr().out
    assert main.main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for text in ("my_softplus: log(1 + exp(x))", "my_linear: LR * (T - t) / T",
                 "my_xor: XOR", "my_rmsnorm: each sample divided by its root mean square"):
        assert text in help_text
