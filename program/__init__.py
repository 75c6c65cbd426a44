"""The program around the mathematics: everything ``python main.py`` needs
besides the formulas.

The maths stands alone at the repository root (``layers.py``,
``activations.py``, ``losses.py``, ``heads.py``, ``optimizers.py``) and
imports nothing from here. This package is built on it, in the order a
learner meets it:

- ``model``: a network as a list of layers and one head; ``build`` assembles
  one from the registered parts.
- ``train``: the training loop (mini-batches, validation, early stopping).
- ``gradcheck``: finite differences against every backward pass.
- ``explain``: one optimizer step spelt out number by number.

and the machine room that turns them into a command-line tool:

- ``registry``: the tables of parts (optimizers, layers, activations, heads,
  datasets, schedules) that the flags, the checkpoint and the tests read.
- ``cli``: the flags (no NumPy); ``experiment``: the wiring of one run;
  ``sweep``: many runs of one flag's values.
- ``data``: datasets and CSV/image readers; ``checkpoint``: saving and
  loading a network; ``outputs``: files written whole or not at all;
  ``metrics``: the per-epoch record; ``plots``: the figures;
  ``interrupts``: Ctrl-C and other signals.
"""
