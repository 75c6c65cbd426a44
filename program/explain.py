"""One training step, narrated: every formula with the real shapes and numbers.

The formulas printed are read from the docstrings of the classes that
compute them (their "Forward:", "Backward:", "Training:" and "Update:"
blocks), so what ``main.py --explain`` shows and what the code documents
cannot drift apart.
"""

import inspect
import re

import numpy as np

import optimizers
from layers import Dense, Dropout, parameter_names

_LABEL = re.compile(r"^([A-Z][A-Za-z ]*):\s+")


def formula(source, label):
    """The lines of the ``label:`` block of ``source``'s docstring, label removed."""
    lines = inspect.cleandoc(source.__doc__ or "").splitlines()
    block, column = [], 0
    for line in lines:
        stripped = line.lstrip()
        if block:
            if not stripped or _LABEL.match(stripped):
                break
            block.append(line[column:])
        elif stripped.startswith(f"{label}:"):
            column = len(line) - len(stripped) + len(_LABEL.match(stripped).group(0))
            block.append(line[column:])
    if not block:
        raise LookupError(f"no {label!r} formula in the docstring of {source!r}")
    return block


def _formula(lines, source, label):
    """Append the ``label:`` formula of ``source``, or say that its docstring has none."""
    try:
        block = formula(source, label)
    except LookupError:
        name = getattr(source, "__name__", repr(source))
        block = [f"(no '{label}:' formula in the docstring of {name})"]
    lines += [f"      {text}" for text in block]


def _sample(array, row, count=4):
    """A few numbers of one row, e.g. '[7, :4] = [0.01 -0.2 ...]' ('[:4]' for a vector)."""
    if array.ndim == 1:
        values, where = array, f"[:{count}]"
    else:  # an image's row: its numbers in C order
        values = array[row].reshape(-1)
        where = f"[{row}, :{count}]" if array.ndim == 2 else f"[{row}].flat[:{count}]"
    text = np.array2string(values[:count], precision=4, suppress_small=True, separator=" ")
    more = " ..." if values.size > count else ""
    return f"{where} = {text[:-1]}{more}]"


def _show(lines, name, array, row):
    if array is None:  # a layer of the reader's own that does not keep this array
        return
    lines.append(f"      {name:2} {str(array.shape):12} {name}{_sample(array, row)}")


# How the narration writes a parameter and its gradient: W and dW for the
# book's names, the name itself for any other (gamma and dgamma).
_SYMBOLS = {"weights": "W", "biases": "b"}


def _name(layer):
    if isinstance(layer, Dense):
        n_in, n_out = layer.weights.shape
        return f"Dense {n_in} -> {n_out}"
    if isinstance(layer, Dropout):
        return f"Dropout, rate {layer.rate:g}"
    if type(layer).__repr__ is not object.__repr__:  # a layer that describes itself
        return repr(layer)
    return type(layer).__name__


def explain_step(network, optimizer, x, y):
    """Run one training step of ``network`` on (x, y) and return its narration."""
    lines = []
    lines.append(f"One training step of a {network.describe()} network on "
                 f"{len(y)} samples ({x.dtype}), optimizer {type(optimizer).__name__}.")
    lines.append("N is the batch size; G is the gradient arriving from the layer above.")

    # The sample shown: the one farthest from the origin (the first spiral
    # points sit at 0, where every layer's numbers are zero).
    k = int(np.argmax((x * x).sum(axis=1)))
    lines.append(f"Numbers shown: row {k} (one sample) of each batch array, "
                 "row 0 of each parameter.")
    before = {name: array.copy() for name, array in network.parameters()}
    loss = network.forward(x, y, training=True)
    lines += ["", "FORWARD"]
    for number, layer in enumerate(network.layers, 1):
        lines.append(f"  [{number}] {_name(layer)}")
        label = "Training" if isinstance(layer, Dropout) else "Forward"
        _formula(lines, type(layer), label)
        _show(lines, "X", getattr(layer, "inputs", None), k)
        for name in parameter_names(layer):
            _show(lines, _SYMBOLS.get(name, name), getattr(layer, name), 0)
        _show(lines, "Y", getattr(layer, "output", None), k)
    head = network.head
    number = len(network.layers) + 1
    lines.append(f"  [{number}] {head.title}")
    _formula(lines, type(head), "Forward")
    _show(lines, "Y" if head.task == "regression" else "P", head.output, k)
    lines.append(f"      y[{k}] = {np.asarray(y)[k]}")
    lines.append(f"      L = {loss:.6f}  (mean over {len(y)} samples; "
                 f"penalty {network.regularization_loss():.6f})")

    network.backward(y)
    lines += ["", "BACKWARD (from the loss down)"]
    lines.append(f"  [{number}] {head.title}")
    _formula(lines, type(head), "Backward")
    _show(lines, "dS", head.dinputs, k)
    for number, layer in reversed(list(enumerate(network.layers, 1))):
        lines.append(f"  [{number}] {_name(layer)}")
        _formula(lines, type(layer), "Backward")
        for name in parameter_names(layer):
            _show(lines, "d" + _SYMBOLS.get(name, name), getattr(layer, "d" + name), 0)
        if getattr(layer, "dinputs", None) is not None:
            _show(lines, "dX", layer.dinputs, k)
        else:
            lines.append("      (dX not computed: the input is the data)")

    t = optimizer.iterations
    optimizer.step(network.trainable)
    lines += ["", f"UPDATE ({type(optimizer).__name__}, step t = {t}, "
                  f"lr_t = {optimizer.current_learning_rate:.6g})"]
    _formula(lines, optimizers, "Decay")
    _formula(lines, type(optimizer), "Update")
    for name, array in network.parameters():
        lines.append(f"    {name} {array.shape}")
        part = name.split(".")[1]
        symbol = part[0] if part in _SYMBOLS else part
        lines.append(f"      before  {symbol}{_sample(before[name], 0)}")
        lines.append(f"      after   {symbol}{_sample(array, 0)}")
    count = sum(array.size for _, array in network.parameters())
    lines += ["", f"{count} parameters updated once; training repeats this step."]
    return "\n".join(lines)
