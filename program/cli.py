"""The command line: flags, their defaults, and the one resolved configuration.

``build_parser`` generates the flags from the registries (``registry.py``);
``resolve`` checks what the flags say together and returns the
configuration of the run as a plain dict, the one thing the rest of the
program reads. Nothing here imports NumPy, so ``main.py --help`` stays fast.
"""

import argparse
import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path

from program import registry

VERSION = "0.2.0"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Every default of the program, in one place. A dataset may override some
# (``registry.DATASETS[...].defaults``), and ``--load`` takes the saved run's.
DEFAULTS = dict(
    optimizer="adam",       # the book's final choice
    dataset="spiral",
    loss=None,              # the dataset's: categorical for classes, mse for a regression
    epochs=10000,           # the book's
    hidden=[64],            # the book's 2-64-3 network
    activation="relu",      # the book's hidden activation
    init=None,              # the book's normal for Dense (--weight-scale), he for Conv2D
    conv=[],                # no convolution blocks: a dense network
    kernel=3,               # 3x3 kernels, the most common choice for small images
    norm=None,              # no normalisation layers (--batch-norm is --norm batchnorm)
    weight_scale=0.01,      # initial weights weight_scale * N(0, 1), the book's
    # Chosen on validation loss averaged over seeds 0-4 (docs/defaults.md): the
    # book's L2 from chapter 14 on; without it the spiral's validation loss climbs
    # from epoch ~400 on; dropout only made the 2-64-3 network underfit.
    dropout=0.0,
    l1=0.0,
    l2=5e-4,
    batch_size=None,        # one full batch, as in the book's spiral chapters
    schedule="inverse",     # the book's decay, LR / (1 + decay * t)
    warmup=0,               # no warm-up steps
    clip_norm=None,         # gradients are not clipped
    dtype="float32",        # the book's precision, and 1.3x-3x faster than float64 (bench.py)
    seed=0,                 # seed 0 draws the book's training data
    samples=100,            # points per class: the book's spiral(100, 3)
    classes=3,
    data=None,              # --data PATH: the learner's own CSV file or image folder
    header="auto",          # a CSV's first row is a header by data.py's stated rule
    label_column=None,      # a header's "label" column, else the last
    patience=None,          # no early stopping
    min_delta=0.0,
    log_level="INFO",
    log_every=100,          # the book prints every 100 epochs
    threads=1,              # BLAS threads: more only pay for large matrices (README "Speed")
)

# What a saved run (``--load``) passes on when its flag is not given: the data,
# the network and how it is trained, so that training continues as it was.
INHERITED = ("dataset", "data", "samples", "classes", "loss", "hidden", "weight_scale",
             "dropout", "l1", "l2", "batch_size", "dtype", "seed", "optimizer", "log_every",
             "activation", "init", "conv", "kernel", "norm", "schedule", "warmup", "clip_norm",
             "patience", "min_delta", "header", "label_column")
# How a file of --data is read: only datasets that take --data take these.
READING = ("header", "label_column")
# The flags that choose the data, which a dataset takes or not (its registry "options").
DATA_OPTIONS = ("samples", "classes", "data")
# A saved network has these built in: a flag that contradicts the file is refused.
ARCHITECTURE = ("hidden", "classes", "loss", "activation", "conv", "kernel", "norm")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_SEED = 2**32 - 1  # NumPy's legacy seeding, which nnfs's data uses, takes 32 bits
MAX_CLASSES = 256     # nnfs stores labels as uint8
MAX_WIDTH = 100_000   # units of a hidden layer: far beyond what trains on a CPU
MAX_CHANNELS = 4096   # channels of a convolution block
MAX_KERNEL = 31       # kernel size: larger than the images this program reads
MAX_SAMPLES = 1_000_000  # points per class that nnfs draws


class UsageError(ValueError):
    """Flags that cannot run together; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """Bad input is one line on stderr and exit status 2, never a usage dump."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number(kind):
    """An argparse type for a finite float: "positive", "non-negative", "fraction" or "number"."""
    test, what = {
        "positive": (lambda v: v > 0, "a finite number > 0"),
        "non-negative": (lambda v: v >= 0, "a finite number >= 0"),
        "fraction": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
        "number": (lambda v: True, "a finite number"),
    }[kind]

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and test(value)):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def _path(text):
    """An argparse type for a file or folder path: any text but an empty one."""
    if not text:
        raise argparse.ArgumentTypeError("must be a path, got ''")
    return Path(text)


def _file_path(text):
    """An argparse type for an output file: a path not ending in a separator, which names
    a folder (``Path("dir/")`` is ``Path("dir")``: a file named dir would be written)."""
    path = _path(text)
    if text.endswith(("/", os.sep)) or text.endswith(("/.", "/..")) or text in (".", ".."):
        raise argparse.ArgumentTypeError(f"must name a file, not a folder: got {text!r}")
    return path


def whole_number(low, high=None):
    """An argparse type for a whole number in [low, high]."""
    what = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def hyperparameter_flags():
    """{constructor argument: registry.Hyperparameter} for every registered optimizer."""
    flags = {}
    for entry in registry.OPTIMIZERS.values():
        for name in entry.defaults:
            flags[name] = registry.HYPERPARAMETERS.get(name) or registry.Hyperparameter(
                "--" + name.replace("_", "-"), "number", name.replace("_", " "))
    return flags


def optimizer_defaults(optimizer, dataset):
    """The hyperparameters ``optimizer`` uses on ``dataset`` when no flag is given."""
    defaults = dict(registry.OPTIMIZERS[optimizer].defaults)
    defaults.update(registry.DATASETS[dataset].optimizer_defaults.get(optimizer, {}))
    return defaults


def _hyperparameter_help(name, spec):
    users = [opt for opt, entry in registry.OPTIMIZERS.items() if name in entry.defaults]
    which = "" if len(users) == len(registry.OPTIMIZERS) else f"{', '.join(users)} only: "
    values = ", ".join(f"{opt} {registry.OPTIMIZERS[opt].defaults[name]:g}" for opt in users)
    for dataset, entry in registry.DATASETS.items():
        special = [f"{opt} {hp[name]:g}" for opt, hp in entry.optimizer_defaults.items()
                   if name in hp]
        if special:
            values += f"; {dataset}: {', '.join(special)}"
    return f"{which}{spec.help} (default: {values})"


def _dataset_defaults(key):
    """ ' (sine: 64 64)' style notes on the datasets that change a default."""
    notes = []
    for name, entry in registry.DATASETS.items():
        if key in entry.defaults:
            value = entry.defaults[key]
            shown = " ".join(map(str, value)) if isinstance(value, list) else f"{value}"
            notes.append(f"{name}: {shown}")
    return f"; {', '.join(notes)}" if notes else ""


def build_parser():
    """The parser of every flag, generated from ``DEFAULTS`` and the registries."""
    positive_whole = whole_number(1)
    fraction, non_negative = _number("fraction"), _number("non-negative")
    optimizers = list(registry.OPTIMIZERS)
    p = _Parser(
        prog="main.py",
        # A fixed width: the same text on every terminal, and the README's copy of it.
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=88),
        description="Train a NumPy neural network (by default on the nnfs spiral data), "
                    "validate it, log its progress and plot the result.",
        epilog="Exit status: 0 done, 1 training diverged or the gradient check failed, "
               "2 bad input, 3 an output could not be written (the others were), 129 "
               "stopped by SIGHUP, 130 stopped by Ctrl-C, 141 standard output closed or a "
               "pipe of either output closed early, 143 stopped by SIGTERM. A stopped "
               "run finishes its epoch and writes every output first.")
    p.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")

    g = p.add_argument_group("optimizer (unset values take the optimizer's default)")
    described = "; ".join(
        f"{name} ({entry.help}" + "".join(f"; also '{alias}'" for alias in entry.aliases) + ")"
        for name, entry in registry.OPTIMIZERS.items())
    g.add_argument("--optimizer", type=registry.optimizer_name, choices=[*optimizers, "all"],
                   metavar="{" + ",".join([*optimizers, "all"]) + "}",
                   help=f"update rule: {described}; all: train every one from the same data "
                        "and initial weights, each with its defaults, and compare them "
                        f"(default: {DEFAULTS['optimizer']})")
    for name, spec in hyperparameter_flags().items():
        g.add_argument(spec.flag, type=_number(spec.kind), metavar=spec.metavar,
                       dest=_dest(spec.flag), help=_hyperparameter_help(name, spec))

    g = p.add_argument_group("network and training")
    heads = "; ".join(f"{name}: {entry.help}" for name, entry in registry.HEADS.items())
    g.add_argument("--loss", choices=list(registry.HEADS),
                   help=f"output head and loss: {heads} (default: categorical for "
                        "classes, mse for a regression)")
    g.add_argument("--epochs", type=whole_number(0),
                   help=f"passes over the training data (default: {DEFAULTS['epochs']})")
    g.add_argument("--hidden", type=whole_number(1, MAX_WIDTH), nargs="+", metavar="WIDTH",
                   help=f"width of each hidden layer, 1 to {MAX_WIDTH:,}, e.g. --hidden 64 64 "
                        "(default: 64"
                        f"{_dataset_defaults('hidden')})")
    activations = "; ".join(f"{name}: {entry.help}"
                            for name, entry in registry.ACTIVATIONS.items())
    g.add_argument("--activation", choices=list(registry.ACTIVATIONS),
                   help=f"activation of the hidden layers: {activations} "
                        f"(default: {DEFAULTS['activation']})")
    inits = "; ".join(f"{name}: {text}" for name, text in registry.INITS.items())
    g.add_argument("--init", choices=list(registry.INITS),
                   help=f"initial weights of the Dense and Conv2D layers: {inits} "
                        "(default: normal for Dense, he for Conv2D); biases start at 0")
    g.add_argument("--conv", type=whole_number(1, MAX_CHANNELS), nargs="+", metavar="C",
                   help="for images (--dataset digits, an image folder): one block per C of "
                        "Conv2D(C channels, K x K, padding K//2) -> [norm] -> activation -> "
                        "MaxPool2D(2), then Flatten and the --hidden layers, e.g. --conv 16 32 "
                        "(default: none)")
    g.add_argument("--kernel", type=whole_number(1, MAX_KERNEL), metavar="K",
                   help=f"with --conv: odd kernel size K, 1 to {MAX_KERNEL} (default: "
                        f"{DEFAULTS['kernel']})")
    norms = {name: entry for name, entry in registry.LAYERS.items() if entry.role == "norm"}
    g.add_argument("--norm", choices=list(norms),
                   help="a normalisation layer after every hidden Dense and Conv2D, before "
                        "its activation: " + "; ".join(f"{name}: {entry.help}"
                                                      for name, entry in norms.items())
                        + " (default: none)")
    g.add_argument("--batch-norm", action="store_true",
                   help="BatchNorm after every hidden Dense and Conv2D, before its "
                        "activation: the same as --norm batchnorm")
    g.add_argument("--weight-scale", type=non_negative, metavar="S",
                   help="initial weights are S * N(0, 1), biases 0 (default: 0.01"
                        f"{_dataset_defaults('weight_scale')})")
    g.add_argument("--dropout", type=fraction,
                   help="fraction of hidden units dropped while training, in [0, 1) "
                        "(default: 0)")
    g.add_argument("--l1", type=non_negative,
                   help="L1 penalty on hidden layers' weights and biases (default: 0)")
    g.add_argument("--l2", type=non_negative,
                   help="L2 penalty on hidden layers' weights and biases (default: 0.0005, "
                        f"the book's from chapter 14 on{_dataset_defaults('l2')})")
    g.add_argument("--batch-size", type=positive_whole, metavar="N",
                   help="train on shuffled mini-batches of N samples (default: the full batch)")
    schedules = "; ".join(f"{name}: {entry.help}" for name, entry in registry.SCHEDULES.items())
    g.add_argument("--schedule", choices=list(registry.SCHEDULES),
                   help=f"learning rate of step t (counted from 0): {schedules} (default: "
                        f"{DEFAULTS['schedule']})")
    g.add_argument("--warmup", type=whole_number(0), metavar="N",
                   help="multiply the rate of the first N steps by (t + 1) / N (default: 0)")
    g.add_argument("--clip-norm", type=_number("positive"), metavar="C",
                   help="scale all gradients down together whenever their global L2 norm "
                        "exceeds C, before each step (default: no clipping)")
    g.add_argument("--dtype", choices=("float32", "float64"),
                   help="precision of the data, parameters and arithmetic; float32, the "
                        "book's precision, trains 1.3x (spiral) to 3x (MNIST's size) faster "
                        "(default: float32)")
    g.add_argument("--threads", type=positive_whole, metavar="N",
                   help="threads of the matrix products (BLAS); more pay only for large "
                        "matrices. With one, a run repeats bit for bit on the same processor "
                        "and NumPy build; another processor or BLAS library changes the last "
                        "digits, which thousands of epochs can grow into different figures "
                        "(default: 1, or the OPENBLAS_NUM_THREADS/OMP_NUM_THREADS of the "
                        "environment)")
    g.add_argument("--seed", type=whole_number(0, MAX_SEED),
                   help="seed of the data, the initial weights, dropout and shuffling, "
                        f"0 to {MAX_SEED} (default: 0)")
    g.add_argument("--patience", type=positive_whole, metavar="N",
                   help="stop when the validation loss has not improved by more than "
                        "--min-delta for N logged evaluations, and restore the best weights "
                        "(default: never stop early)")
    g.add_argument("--min-delta", type=non_negative, metavar="D",
                   help="with --patience: the improvement that counts (default: 0)")

    g = p.add_argument_group("data")
    described = "; ".join(f"{name}: {entry.help}" for name, entry in registry.DATASETS.items())
    g.add_argument("--dataset", choices=list(registry.DATASETS),
                   help=f"{described} (default: {DEFAULTS['dataset']})")
    g.add_argument("--samples", type=whole_number(1, MAX_SAMPLES),
                   help=f"points per class in each of the training and validation sets, 1 to "
                        f"{MAX_SAMPLES:,} "
                        f"(default: {DEFAULTS['samples']}{_dataset_defaults('samples')} "
                        "points in all)")
    g.add_argument("--classes", type=whole_number(2, MAX_CLASSES),
                   help=f"number of classes, 2 to {MAX_CLASSES}: spiral arms or clusters "
                        f"(default: {DEFAULTS['classes']})")
    g.add_argument("--data", type=_path, metavar="PATH",
                   help="your own data (--dataset file): a CSV file of numeric feature "
                        "columns and a class column (the last, or see --label-column; a header "
                        "optional: see --header), or a "
                        "folder with one subfolder of images per class (or train/ and test/ "
                        "folders of them)")
    g.add_argument("--header", choices=("auto", "yes", "no"),
                   help="with --data or --predict a CSV file: is its first row a header? "
                        "auto: yes when every cell is a name (or its column's number from 0, "
                        "as pandas writes it), no when every feature is a number, else "
                        "refused until this flag says (default: auto)")
    g.add_argument("--label-column", metavar="COLUMN",
                   help="with --data a CSV file: the column of the classes: first, last, a "
                        "number from 1 or a name in the header (default: a header's 'label' "
                        "column, else the last)")

    g = p.add_argument_group("output")
    g.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS,
                   metavar="{" + ",".join(LOG_LEVELS) + "}",
                   help="INFO logs one line per logged epoch; DEBUG adds each layer's weight "
                        "norm, gradient norm and update-to-weight ratio; WARNING shows only "
                        "warnings and the final result; any case (default: INFO)")
    g.add_argument("--log-every", type=positive_whole, metavar="N",
                   help="log and record every N epochs, and the first and last "
                        f"(default: {DEFAULTS['log_every']})")
    g.add_argument("--metrics", type=_file_path, metavar="PATH",
                   help="write the logged epochs to PATH: CSV, or JSON if PATH ends in .json")
    g.add_argument("--plot", type=_file_path, metavar="PATH",
                   help="where to save the figure (default: plots/<optimizer>.png, or "
                        "plots/<dataset>-<optimizer>.png for a dataset other than the spiral; "
                        "<optimizer> is 'sweep' for --sweep)")
    g.add_argument("--no-plot", action="store_true", help="draw no figure")
    g.add_argument("--show", action="store_true", help="also open the figure in a window")
    g.add_argument("--animate", type=_file_path, metavar="PATH.gif",
                   help="also write an animation of the network learning: one frame per "
                        "logged epoch (at most about 100)")
    g.add_argument("--save", type=_file_path, metavar="PATH.npz",
                   help="save the trained network (parameters and a JSON header)")
    g.add_argument("--load", type=_path, metavar="PATH.npz",
                   help="start from a saved network, with the saved run's settings for "
                        "every flag not given, and go on exactly where it stopped; with "
                        "--epochs 0 only evaluate it")
    g.add_argument("--checkpoint-every", type=positive_whole, metavar="K",
                   help="with --save: also rewrite the checkpoint every K epochs, so that a "
                        "killed run loses at most K epochs")
    g.add_argument("--predict", type=_path, metavar="PATH",
                   help="with --load: print the saved network's prediction for each input "
                        "of PATH (a CSV file of feature rows, an image, or a folder of images) "
                        "and exit")

    g = p.add_argument_group("several runs")
    g.add_argument("--sweep", action="append", metavar="FLAG=V1,V2,...",
                   help="one run per value of a flag that sets how the network is built or "
                        "trained (FLAG is the flag without its dashes: learning-rate, l2, "
                        "dropout, hidden, batch-size, optimizer, ...), each value as that "
                        "flag takes it, --hidden's widths joined by x (hidden=64,128,64x64); "
                        "every run has the same data and, where the shapes agree, the same "
                        "initial weights. Prints the runs ranked by their best validation "
                        "loss, draws each value's validation-loss curve and writes each run's "
                        "metrics and configuration beside the figure "
                        "(plots/sweep-l2-0.metrics.csv, .config.json). Given twice: a grid of "
                        "every pair of values, drawn as a heatmap. seed=0,1,2,3,4 besides: "
                        "each value is run with every seed and ranked by the mean over them, "
                        "shown with their lowest and highest. Ctrl-C keeps and reports the "
                        "runs that finished. E.g. --sweep learning-rate=0.005,0.02,0.05 "
                        "--sweep l2=0,5e-4")
    g.add_argument("--jobs", type=positive_whole, metavar="N",
                   help="with --sweep or --optimizer all: train N runs at once, each in a "
                        "process of its own with --threads BLAS threads; the results are "
                        "those of --jobs 1 (default: 1)")

    g = p.add_argument_group("looking inside")
    g.add_argument("--check-gradients", action="store_true",
                   help="before training, compare the network's backpropagated gradients "
                        "with finite differences (float64) and exit 1 if any relative "
                        "error exceeds 1e-5; shows its progress")
    g.add_argument("--gradient-sample", type=positive_whole, metavar="N",
                   help="with --check-gradients: check N random entries of each parameter "
                        "array instead of all of them, for large networks (default: all)")
    g.add_argument("--explain", action="store_true",
                   help="run one training step and print, layer by layer, the formulas "
                        "with the actual shapes and numbers, then exit")
    return p


def _dest(flag):
    return flag[2:].replace("-", "_")


def parse(argv=None):
    """The parsed flags; argparse itself exits on --help, --version or a malformed flag.

    ``--sweep`` comes back parsed: a list of ``Axis``, each value checked
    as its own flag checks it (None without --sweep).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.sweep = sweep_axes(parser, args) if args.sweep else None
        _check_several_runs(args)
    except UsageError as error:
        parser.error(str(error))
    return args


# What --sweep may vary: how the network is built and trained (and the optimizer's
# hyperparameters, added in sweep_axes). Not the data: every run of a sweep has the same.
SWEEPABLE = ("optimizer", "loss", "epochs", "hidden", "activation", "init", "conv", "kernel",
             "norm", "weight_scale", "dropout", "l1", "l2", "batch_size", "schedule", "warmup",
             "clip_norm", "dtype", "seed", "patience", "min_delta")
# Between the widths of one --hidden (or --conv) value of a sweep: hidden=64x64.
WIDTH_SEPARATOR = "x"
# Flags swept together besides seed: two make a grid.
MAX_AXES = 2


@dataclass(frozen=True)
class Axis:
    """One ``--sweep FLAG=V1,V2,...``: the flag, and its values parsed and as shown."""

    flag: str      # "--learning-rate"
    dest: str      # "learning_rate", the attribute of the parsed flags it sets
    values: tuple  # as the flag parses them: 0.005, [64, 64], "adam"
    labels: tuple  # as the table and the file names show them: "0.005", "64x64"

    @property
    def name(self):
        return self.flag[2:]


def sweepable():
    """The flags --sweep takes, without their dashes."""
    names = [*SWEEPABLE, *(_dest(spec.flag) for spec in hyperparameter_flags().values())]
    return [name.replace("_", "-") for name in dict.fromkeys(names)]


def sweep_axes(parser, args):
    """The ``Axis`` of each ``--sweep`` text of ``args``; UsageError names the one refused."""
    actions = {action.option_strings[0]: action for action in parser._actions
               if action.option_strings}
    names = sweepable()
    axes = []
    for text in args.sweep:
        name, equals, values = text.partition("=")
        name = name.strip().lstrip("-").replace("_", "-")
        if not equals or not name:
            raise UsageError(f"argument --sweep: expected FLAG=V1,V2,... (e.g. "
                             f"l2=0,1e-4), got {text!r}")
        if name not in names:
            what = "is not a flag" if f"--{name}" not in actions else "is not a hyperparameter"
            raise UsageError(f"argument --sweep: --{name} {what}; a sweep varies one of "
                             f"{', '.join(names)}")
        action = actions[f"--{name}"]
        if any(axis.flag == action.option_strings[0] for axis in axes):
            raise UsageError(f"argument --sweep: {name} is swept twice; give all its values "
                             f"in one --sweep {name}=V1,V2,...")
        axes.append(_axis(parser, action, name, values.split(",")))
    for axis in axes:
        given = getattr(args, axis.dest) is not None or (axis.dest == "norm" and args.batch_norm)
        if given:
            flag = "--batch-norm" if axis.dest == "norm" and args.batch_norm else axis.flag
            raise UsageError(f"argument --sweep: {axis.name} is swept and also given as "
                             f"{flag}; give one of them")
    grid = [axis.name for axis in axes if axis.dest != "seed"]
    if len(grid) > MAX_AXES:
        raise UsageError(f"argument --sweep: at most {MAX_AXES} flags besides seed (a grid), "
                         f"got {len(grid)}: {', '.join(grid)}")
    return axes


def _axis(parser, action, name, texts):
    """The ``Axis`` of ``--sweep name=texts``: each value parsed by the flag's own parser."""
    values, labels = [], []
    for text in texts:
        value = _flag_value(parser, action, text, f"--sweep {name}={text}")
        if value == "all" and action.dest == "optimizer":
            raise UsageError(f"--sweep {name}={text}: name the optimizers one by one (--optimizer "
                             "all alone compares them all)")
        label = _label(value)
        if value in values:
            raise UsageError(f"argument --sweep: {name} has the value {label} twice")
        values.append(value)
        labels.append(label)
    return Axis(action.option_strings[0], action.dest, tuple(values), tuple(labels))


def _flag_value(parser, action, text, where):
    """``text`` parsed exactly as ``action``'s flag parses it on the command line.

    A list flag (--hidden) takes its items joined by WIDTH_SEPARATOR. The
    flag's own error, after ``where``: "--sweep l2=abc: argument --l2: ...".
    """
    items = text.split(WIDTH_SEPARATOR) if action.nargs == "+" else [text]
    value = []
    for item in items:
        try:
            # "--flag=item": an item that starts with a dash stays the flag's value.
            parsed = _quiet(parser).parse_args([f"{action.option_strings[0]}={item}"])
        except argparse.ArgumentError as error:
            raise UsageError(f"{where}: {error}") from None
        value += getattr(parsed, action.dest) if action.nargs == "+" else [
            getattr(parsed, action.dest)]
    return value if action.nargs == "+" else value[0]


def _quiet(parser):
    """``parser``, raising ArgumentError for a bad value instead of exiting."""
    quiet = copy.copy(parser)
    quiet.exit_on_error = False
    return quiet


def _label(value):
    """A swept value as the table and the file names show it: 0.0005, 64x64, adam."""
    if isinstance(value, list):
        return WIDTH_SEPARATOR.join(map(str, value))
    if isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as the same number
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _check_several_runs(args):
    """Refuse --sweep and --jobs where they do not apply."""
    if args.sweep:
        if args.optimizer == "all":
            raise UsageError("argument --sweep: cannot be combined with --optimizer all "
                             "(sweep optimizer=adam,gd,... instead)")
        for flag in ("load", "predict", "explain", "check_gradients"):
            if getattr(args, flag) not in (None, False):
                raise UsageError(f"argument --sweep: cannot be combined with "
                                 f"--{flag.replace('_', '-')}")
    if args.jobs is not None and not args.sweep and args.optimizer != "all":
        raise UsageError("argument --jobs: needs --sweep or --optimizer all, which train "
                         "several runs")


def resolve(args, saved=None):
    """The configuration of the run, from the flags and (with --load) the saved run.

    ``saved`` is the configuration stored in the checkpoint given to
    ``--load``. Raises ``UsageError`` naming the flag for anything that does
    not fit together.
    """
    given = {key: value for key, value in vars(args).items() if value is not None}
    if args.batch_norm:
        if given.get("norm", "batchnorm") != "batchnorm":
            raise UsageError(f"argument --batch-norm: cannot be combined with --norm "
                             f"{given['norm']}")
        given["norm"] = "batchnorm"
    if saved is not None:
        saved = _checked_settings(saved, args.load)
        for key in ARCHITECTURE:
            if key in given and key in saved and given[key] != saved[key]:
                flag = "--batch-norm" if key == "norm" and args.batch_norm else f"--{key}"
                held = (f"--{key} {shown(saved[key])}" if saved[key] not in (None, [])
                        else f"no --{key}")
                raise UsageError(f"argument {flag}: the network in {str(args.load)!r} has "
                                 f"{held}, not {shown(given[key])}")
    if "data" in given and "dataset" not in given:
        given["dataset"] = "file"  # --data PATH alone means --dataset file
    dataset = given.get("dataset", (saved or DEFAULTS).get("dataset", DEFAULTS["dataset"]))
    entry = registry.DATASETS[dataset]
    same_data = saved is not None and saved.get("dataset") == dataset
    base = dict(DEFAULTS)
    if not same_data:
        base.update(entry.defaults)
    if saved is not None:
        # Other data keeps the saved network and training, not the saved data's size.
        base.update({key: saved[key] for key in INHERITED
                     if key in saved and (same_data or key not in (*DATA_OPTIONS, *READING))
                     and not (args.predict is not None and key in READING)})
    config = dict(base)
    config.update({key: value for key, value in given.items() if key in DEFAULTS})

    for option in DATA_OPTIONS:
        if option in given and option not in entry.options:
            raise UsageError(f"argument --{option}: does not apply to --dataset {dataset}")
        if option in entry.options and config[option] is None:
            raise UsageError(f"argument --dataset: {dataset} needs --{option}")
    _check_reading(args, given, dataset, entry, given.get("data"))
    tasks = registry.TASKS[entry.task]
    if config["loss"] is None:
        config["loss"] = next(name for name, head in registry.HEADS.items()
                              if head.task == tasks[0])
    task = registry.HEADS[config["loss"]].task
    from_file = saved is not None and "loss" not in given
    if args.predict is not None:
        pass  # predictions read the network and the inputs only: the data cannot contradict them
    elif task not in tasks:
        if from_file:
            raise UsageError(f"argument --dataset: the network in {str(args.load)!r} has the "
                             f"{config['loss']} head, which does not fit --dataset {dataset} "
                             f"({entry.task})")
        fitting = [name for name, head in registry.HEADS.items() if head.task in tasks]
        raise UsageError(f"argument --loss: {config['loss']} does not fit --dataset {dataset} "
                         f"({entry.task}); choose {' or '.join(fitting)}")
    elif task == "binary" and "classes" in entry.options and config["classes"] != 2:
        if from_file:
            raise UsageError(f"argument --classes: the network in {str(args.load)!r} is "
                             f"binary: give --classes 2, not {config['classes']}")
        raise UsageError(f"argument --loss: binary needs --classes 2, not {config['classes']}")

    config["hyperparameters"] = _hyperparameters(args, config, saved)
    _check_combinations(args, config)
    plot = None
    if not (args.no_plot or args.predict or args.explain):
        plot = args.plot or default_plot(config, config["optimizer"])
    if config["data"] is not None:
        config["data"] = str(config["data"])
    config.update(
        metrics=args.metrics, plot=plot, show=args.show, animate=args.animate,
        save=args.save, load=args.load, check_gradients=args.check_gradients,
        gradient_sample=args.gradient_sample, explain=args.explain, predict=args.predict,
        checkpoint_every=args.checkpoint_every)
    return config


def _check_reading(args, given, dataset, entry, data):
    """Refuse --header and --label-column where no CSV file is read by them."""
    for key in READING:
        if key not in given:
            continue
        flag = "--" + key.replace("_", "-")
        if args.predict is not None:
            if key == "label_column":
                raise UsageError(f"argument {flag}: the inputs of --predict have no label "
                                 "column")
        elif "data" not in entry.options:
            raise UsageError(f"argument {flag}: does not apply to --dataset {dataset} (only "
                             "to a CSV file of --data)")
        elif data is not None and os.path.isdir(data):
            raise UsageError(f"argument {flag}: does not apply to a folder of images, "
                             f"--data {str(data)!r} (only to a CSV file)")


def default_plot(config, name):
    """plots/NAME.png on the spiral, plots/DATASET-NAME.png (or DATA-NAME.png) otherwise."""
    dataset = config["dataset"]
    source = _data_name(config["data"]) if dataset == "file" else dataset
    return Path("plots") / (f"{name}.png" if dataset == "spiral" else f"{source}-{name}.png")


def _data_name(data):
    """The name of --data PATH in the default figure's name: "pets" for pets.csv, the
    folder's own name for "." or "images/"."""
    path = Path(os.path.abspath(data))
    return path.stem or path.name or "data"


def _checked_settings(saved, path):
    """The saved run's settings, each checked as its flag checks it on the command line.

    A checkpoint is a file like any other: a setting of the wrong type or
    out of its range is a UsageError naming it, never a failure later on.
    """
    actions = {action.dest: action for action in build_parser()._actions}
    checked = {}
    for key in (*INHERITED, "hyperparameters"):
        if key not in saved:
            continue
        if saved[key] is None:
            if DEFAULTS.get(key, "") is None:  # None is this setting's "none" (no --norm)
                checked[key] = None
            continue
        value = saved[key]
        try:
            if key == "hyperparameters":
                checked[key] = _checked_hyperparameters(value, saved.get("optimizer"))
            elif key in ("hidden", "conv") and value == []:
                checked[key] = []  # a saved network may have none: the flag cannot say so
            elif key == "data":
                if not isinstance(value, str) or not value:
                    raise ValueError("must be a path")
                checked[key] = value
            else:
                checked[key] = _as_flag(actions[key], value)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
            raise UsageError(f"argument --load: the run saved in {str(path)!r} has {key} "
                             f"{shown(value)}, which {error}") from None
    return checked


def _as_flag(action, value):
    """``value`` as the flag of ``action`` would have parsed it from its text."""
    if action.nargs == "+":
        if not isinstance(value, list) or not value:
            raise ValueError("must be a list of one or more values")
        item = argparse.Action([], action.dest, type=action.type, choices=action.choices,
                               metavar=action.metavar)
        return [_as_flag(item, v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"must be {action.metavar or 'a value'} as on the command line")
    parsed = action.type(str(value)) if action.type else str(value)
    if action.choices is not None and parsed not in action.choices:
        raise ValueError(f"is not one of {', '.join(map(str, action.choices))}")
    return parsed


def _checked_hyperparameters(values, optimizer):
    if not isinstance(values, dict):
        raise ValueError("must be an object of the optimizer's settings")
    flags = hyperparameter_flags()
    known = registry.OPTIMIZERS.get(optimizer)
    checked = {}
    for name, value in values.items():
        if known is None or name not in known.defaults:
            raise ValueError(f"names {name!r}, which {optimizer} does not take")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"gives {name} the value {value!r}, not a number")
        checked[name] = _number(flags[name].kind)(str(value))
    return checked


def shown(value, limit=80):
    """A setting as the command line spells it (a list as its words, [] when empty), cut
    short when long.

    A saved file may hold anything: a list of 200,000 widths must not become
    an error line of 600 KB.
    """
    text = (" ".join(map(str, value)) or "[]") if isinstance(value, list) else str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _hyperparameters(args, config, saved):
    """The optimizer's constructor arguments; None for ``--optimizer all``."""
    everything = config["optimizer"] == "all"
    defaults = {} if everything else optimizer_defaults(config["optimizer"], config["dataset"])
    if (saved is not None and not everything
            and saved.get("optimizer") == config["optimizer"]):
        defaults.update(saved.get("hyperparameters") or {})
    for name, spec in hyperparameter_flags().items():
        value = getattr(args, _dest(spec.flag))
        if value is None:
            continue
        if name not in defaults:
            why = " (each optimizer uses its defaults)" if everything else ""
            raise UsageError(f"argument {spec.flag}: does not apply to --optimizer "
                             f"{config['optimizer']}{why}")
        defaults[name] = value
    return None if everything else defaults


def _check_combinations(args, config):
    if config["optimizer"] == "all":
        for flag in ("load", "explain"):
            if getattr(args, flag):
                raise UsageError(f"argument --{flag}: cannot be combined with --optimizer all")
    if args.no_plot and (args.plot or args.show):
        raise UsageError("argument --no-plot: cannot be combined with --plot or --show")
    if args.min_delta is not None and config["patience"] is None:
        raise UsageError("argument --min-delta: needs --patience")
    if args.animate is not None and args.animate.suffix.lower() != ".gif":
        raise UsageError(f"argument --animate: {str(args.animate)!r} must end in .gif")
    if args.checkpoint_every is not None and args.save is None:
        raise UsageError("argument --checkpoint-every: needs --save")
    if config["schedule"] == "cosine" and args.decay is not None:
        raise UsageError("argument --decay: does not apply to --schedule cosine, which falls "
                         "to 0 over the run's steps by itself")
    if args.weight_scale is not None and config["init"] not in (None, "normal"):
        raise UsageError(f"argument --weight-scale: applies to --init normal only "
                         f"({config['init']} draws its own scale)")
    if args.kernel is not None and not config["conv"]:
        raise UsageError("argument --kernel: needs --conv")
    if config["conv"] and config["kernel"] % 2 == 0:
        raise UsageError(f"argument --kernel: must be odd, so that padding K//2 keeps an "
                         f"image's size, got {config['kernel']}")
    if args.gradient_sample is not None and not args.check_gradients:
        raise UsageError("argument --gradient-sample: needs --check-gradients")
    if args.explain:
        for flag in ("save", "metrics", "animate", "checkpoint_every", "plot", "show"):
            if getattr(args, flag) not in (None, False):
                raise UsageError(f"argument --explain: shows one step and exits; it cannot be "
                                 f"combined with --{flag.replace('_', '-')}")
    if args.predict is not None:
        if args.load is None:
            raise UsageError("argument --predict: needs --load MODEL.npz")
        for flag in ("epochs", "save", "metrics", "plot", "animate", "explain",
                     "check_gradients", "show"):
            if getattr(args, flag) not in (None, False):
                raise UsageError(f"argument --predict: only predicts; it cannot be combined "
                                 f"with --{flag.replace('_', '-')}")
