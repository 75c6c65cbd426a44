"""Whole-program behaviour of the data path and its faults (issue 18), through main.main."""

import errno

import checkpoint
import main


def test_a_periodic_checkpoint_that_cannot_be_written_ends_in_3_with_the_rest_written(
        tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "write", full_disk)
    metrics, plot = tmp_path / "m.csv", tmp_path / "p.png"
    status = main.main(["--epochs", "6", "--log-every", "2", "--log-level", "WARNING",
                        "--samples", "10", "--save", str(tmp_path / "n.npz"),
                        "--checkpoint-every", "2", "--metrics", str(metrics),
                        "--plot", str(plot)])
    out, err = capsys.readouterr()
    assert status == 3
    assert metrics.exists() and plot.exists()
    assert metrics.read_text().splitlines()[-1].startswith("6,")  # training went on to the end
    lines = err.splitlines()
    assert lines[0] == (f"main.py: error: cannot write '{tmp_path / 'n.npz'}': No space left on "
                        "device (at epoch 2; training goes on)")
    assert len([line for line in lines if "at epoch" in line]) == 1  # one line, not one per try
    assert out.startswith("completed: 6/6 epochs")
