import sys

import numpy as np

from model import Network
from plots import plot_training

ROWS = [dict(epoch=e, loss=1 / e, data_loss=0.9 / e, reg_loss=0.1 / e, accuracy=0.5,
             learning_rate=0.1, val_loss=1.1 / e, val_accuracy=0.4) for e in (1, 2, 3)]


def test_writes_a_png_with_agg(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 2)), rng.integers(0, 3, 30)
    path = plot_training(ROWS, Network(2, [4], 3), x, y, tmp_path / "a" / "f.png", title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"


def test_non_finite_network_still_plots(tmp_path):
    net = Network(2, [4], 2)
    net.dense_layers[0].weights[:] = np.nan
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    assert plot_training(ROWS, net, x, y, tmp_path / "f.png").exists()


def test_importing_main_does_not_import_matplotlib_or_nnfs():
    import subprocess

    code = "import main, sys; print('matplotlib' in sys.modules, 'nnfs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
