"""Train a small classifier on the nnfs spiral data from the command line.

    python main.py --optimizer adam --log-level DEBUG

Parses the flags, wires data, network, optimizer, training loop, metrics
file and figure together, and reports. Exit status: 0 done, 1 training
diverged, 2 bad input, 130 interrupted by Ctrl-C.
"""

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

VERSION = "0.1.0"

log = logging.getLogger("main")

# Per-optimizer defaults, tuned from the book's chapter-10 settings (gd: lr 1.0,
# decay 1e-3; adagrad: decay 1e-4; rmsprop: lr 0.02, decay 1e-5, rho 0.999;
# adam: lr 0.05, decay 5e-7, beta_1 0.9) so that the 2-64-3 spiral network
# reaches the book's final training accuracy and loss on average over seeds
# 0-4 (the README's results table; the book's settings fall short on some seeds).
OPTIMIZER_DEFAULTS = {
    "gd": dict(learning_rate=0.3, decay=0.0, momentum=0.9),
    "adagrad": dict(learning_rate=1.0, decay=0.0, epsilon=1e-7),
    "rmsprop": dict(learning_rate=0.03, decay=2e-4, epsilon=1e-7, rho=0.9),
    "adam": dict(learning_rate=0.07, decay=1e-4, epsilon=1e-7, beta_1=0.95, beta_2=0.999),
}
OPTIMIZER_ALIASES = {"sgd": "gd"}
# Command-line flag -> optimizer constructor argument.
HYPERPARAMETER_FLAGS = {"learning_rate": "--learning-rate", "decay": "--decay",
                        "momentum": "--momentum", "epsilon": "--epsilon", "rho": "--rho",
                        "beta_1": "--beta1", "beta_2": "--beta2"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
OWN_LOGGERS = {"main", "data", "model", "train", "metrics", "plots", "checkpoint",
               "gradcheck", "explain"}

EXIT_OK, EXIT_DIVERGED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# How a training run ended (train.py's statuses) -> exit status.
EXIT_STATUS = {"completed": EXIT_OK, "early stopped": EXIT_OK, "diverged": EXIT_DIVERGED,
               "interrupted": EXIT_INTERRUPTED}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """Bad input is one line on stderr and exit status 2, never a usage dump."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number(*, low=None, high=None, low_open=False, high_open=True, what="a number"):
    """An argparse type: a finite float within the given bounds."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def _whole(minimum, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


def _optimizer_name(text):
    name = text.lower()
    return OPTIMIZER_ALIASES.get(name, name)


def _defaults_of(name):
    return ", ".join(f"{opt} {hp[name]:g}" for opt, hp in OPTIMIZER_DEFAULTS.items()
                     if name in hp)


def build_parser():
    positive = _number(low=0, low_open=True, what="a finite number > 0")
    non_negative = _number(low=0, what="a finite number >= 0")
    fraction = _number(low=0, high=1, what="a number in [0, 1)")
    counting = _whole(0, "a whole number >= 0")
    positive_whole = _whole(1, "a whole number >= 1")
    p = _Parser(
        prog="main.py",
        description="Train a NumPy neural network on the nnfs spiral data, validate it, "
                    "log its progress and plot the result.",
        epilog="Exit status: 0 done, 1 training diverged or the gradient check failed, "
               "2 bad input, 130 interrupted.")
    p.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")

    g = p.add_argument_group("optimizer (unset values take the optimizer's default)")
    g.add_argument("--optimizer", type=_optimizer_name, default="adam",
                   choices=[*OPTIMIZER_DEFAULTS, "all"],
                   metavar="{adam,gd,adagrad,rmsprop,all}",
                   help="update rule; 'sgd' is accepted for gd; 'all' trains the four from "
                        "the same data and initial weights, each with its defaults, and "
                        "compares them (default: %(default)s)")
    g.add_argument("--learning-rate", type=positive, metavar="LR",
                   help=f"initial learning rate (default: {_defaults_of('learning_rate')})")
    g.add_argument("--decay", type=non_negative,
                   help="learning-rate decay: step t uses LR / (1 + decay * t) "
                        f"(default: {_defaults_of('decay')})")
    g.add_argument("--momentum", type=fraction,
                   help=f"gd only: momentum in [0, 1) (default: {_defaults_of('momentum')})")
    g.add_argument("--epsilon", type=non_negative,
                   help="adagrad, rmsprop, adam: added to the denominator "
                        f"(default: {_defaults_of('epsilon')})")
    g.add_argument("--rho", type=fraction,
                   help=f"rmsprop only: cache decay in [0, 1) (default: {_defaults_of('rho')})")
    g.add_argument("--beta1", type=fraction,
                   help=f"adam only: first-moment decay (default: {_defaults_of('beta_1')})")
    g.add_argument("--beta2", type=fraction,
                   help=f"adam only: second-moment decay (default: {_defaults_of('beta_2')})")

    g = p.add_argument_group("network and training")
    g.add_argument("--epochs", type=counting, default=10000,
                   help="passes over the training data (default: %(default)s)")
    g.add_argument("--hidden", type=positive_whole, nargs="+",
                   default=[64], metavar="WIDTH",
                   help="width of each hidden layer, e.g. --hidden 64 64 (default: 64)")
    g.add_argument("--dropout", type=fraction, default=0.0,
                   help="fraction of hidden units dropped while training, in [0, 1) "
                        "(default: %(default)s)")
    g.add_argument("--l1", type=non_negative, default=0.0,
                   help="L1 penalty on hidden layers' weights and biases (default: %(default)s)")
    g.add_argument("--l2", type=non_negative, default=0.0,
                   help="L2 penalty on hidden layers' weights and biases (default: %(default)s)")
    g.add_argument("--batch-size", type=positive_whole, metavar="N",
                   help="train on shuffled mini-batches of N samples (default: the full batch)")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision of the data, parameters and arithmetic; float32, the "
                        "book's precision, trains about 1.2x faster (default: %(default)s)")
    g.add_argument("--seed", type=counting, default=0,
                   help="seed of the data, the initial weights, dropout and shuffling "
                        "(default: %(default)s)")
    g.add_argument("--patience", type=positive_whole, metavar="N",
                   help="stop when the validation loss has not improved by more than "
                        "--min-delta for N logged evaluations, and restore the best weights "
                        "(default: never stop early)")
    g.add_argument("--min-delta", type=non_negative, metavar="D",
                   help="with --patience: the improvement that counts (default: 0)")

    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=("spiral", "vertical"), default="spiral",
                   help="nnfs dataset: spiral arms, or the easier vertical clusters "
                        "(default: %(default)s)")
    g.add_argument("--samples", type=positive_whole, default=100,
                   help="points per class, in each of the training and validation sets "
                        "(default: %(default)s)")
    g.add_argument("--classes", type=_whole(2, "a whole number >= 2"), default=3,
                   help="number of classes: spiral arms or clusters (default: %(default)s)")

    g = p.add_argument_group("output")
    g.add_argument("--log-level", type=str.upper, default="INFO", choices=LOG_LEVELS,
                   metavar="{DEBUG,INFO,WARNING,ERROR}",
                   help="INFO logs one line per logged epoch; DEBUG adds each layer's weight "
                        "norm, gradient norm and update-to-weight ratio; WARNING shows only "
                        "warnings and the final result; any case (default: %(default)s)")
    g.add_argument("--log-every", type=positive_whole, default=100,
                   metavar="N", help="log and record every N epochs, and the first and last "
                                     "(default: %(default)s)")
    g.add_argument("--metrics", type=Path, metavar="PATH",
                   help="write the logged epochs to PATH: CSV, or JSON if PATH ends in .json")
    g.add_argument("--plot", type=Path, metavar="PATH",
                   help="where to save the figure (default: plots/<optimizer>.png)")
    g.add_argument("--no-plot", action="store_true", help="draw no figure")
    g.add_argument("--show", action="store_true", help="also open the figure in a window")
    g.add_argument("--animate", type=Path, metavar="PATH.gif",
                   help="also write an animation of the network learning: one frame per "
                        "logged epoch (at most about 100)")
    g.add_argument("--save", type=Path, metavar="PATH.npz",
                   help="save the trained network (parameters and a JSON header)")
    g.add_argument("--load", type=Path, metavar="PATH.npz",
                   help="start from a saved network; with --epochs 0 only evaluate it")

    g = p.add_argument_group("looking inside")
    g.add_argument("--check-gradients", action="store_true",
                   help="before training, compare the network's backpropagated gradients "
                        "with finite differences (float64) and exit 1 if any relative "
                        "error exceeds 1e-5")
    g.add_argument("--explain", action="store_true",
                   help="run one training step and print, layer by layer, the formulas "
                        "with the actual shapes and numbers, then exit")
    return p


def resolve(args):
    """The flags as one configuration dict; raises ValueError for a flag that does not apply."""
    everything = args.optimizer == "all"
    defaults = {} if everything else OPTIMIZER_DEFAULTS[args.optimizer]
    hyper = None if everything else dict(defaults)
    for name, flag in HYPERPARAMETER_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        if name not in defaults:
            why = " (each optimizer uses its defaults)" if everything else ""
            raise ValueError(f"argument {flag}: does not apply to --optimizer "
                             f"{args.optimizer}{why}")
        hyper[name] = value
    if everything:
        for flag in ("save", "load", "explain", "animate"):
            if getattr(args, flag):
                raise ValueError(f"argument --{flag}: cannot be combined with --optimizer all")
    if args.no_plot and (args.plot or args.show):
        raise ValueError("argument --no-plot: cannot be combined with --plot or --show")
    if args.min_delta is not None and args.patience is None:
        raise ValueError("argument --min-delta: needs --patience")
    if args.animate is not None and args.animate.suffix.lower() != ".gif":
        raise ValueError(f"argument --animate: {str(args.animate)!r} must end in .gif")
    plot = None if args.no_plot else (args.plot or Path("plots") / f"{args.optimizer}.png")
    return dict(optimizer=args.optimizer, hyperparameters=hyper, epochs=args.epochs,
                hidden=args.hidden, dropout=args.dropout, l1=args.l1, l2=args.l2,
                batch_size=args.batch_size, dtype=args.dtype, seed=args.seed,
                patience=args.patience, min_delta=args.min_delta or 0.0,
                dataset=args.dataset, samples=args.samples, classes=args.classes,
                log_level=args.log_level, log_every=args.log_every, metrics=args.metrics,
                plot=plot, show=args.show, animate=args.animate, save=args.save,
                load=args.load, check_gradients=args.check_gradients, explain=args.explain)


def check_writable(path, flag):
    """Fail before training, not after it, if an output cannot be written."""
    try:
        if path.parent.exists() and not path.parent.is_dir():
            raise NotADirectoryError(f"{str(path.parent)!r} is not a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError("it is a directory")
        existed = path.exists()
        with path.open("a"):
            pass
        if not existed:
            path.unlink()
    except OSError as error:
        reason = str(error) if not error.strerror else error.strerror
        raise ValueError(f"argument {flag}: cannot write {str(path)!r}: {reason}") from None


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a bad flag already reported
        return done.code
    try:
        config = resolve(args)
        for key in ("metrics", "plot", "animate", "save"):
            flag = f"--{key}"
            if config[key] is not None:
                check_writable(config[key], flag)
    except ValueError as error:
        print(f"main.py: error: {error}", file=sys.stderr)
        return EXIT_USAGE

    handler = logging.StreamHandler(sys.stderr)
    # Our modules log at the chosen level; other libraries only their warnings.
    handler.addFilter(lambda record: record.levelno >= logging.WARNING
                      or record.name.split(".")[0] in OWN_LOGGERS)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(config["log_level"])
    try:
        return run(config)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def run(config):
    """Train as configured, write the outputs and report; returns the exit status."""
    import numpy as np

    import data
    from model import Network

    header = None
    if config["load"] is not None:
        import checkpoint

        try:
            header, arrays = checkpoint.load(config["load"])
        except checkpoint.CheckpointError as error:
            print(f"main.py: error: argument --load: {error}", file=sys.stderr)
            return EXIT_USAGE
        if header["architecture"]["n_inputs"] != 2:
            print("main.py: error: argument --load: the network does not take 2 inputs",
                  file=sys.stderr)
            return EXIT_USAGE
        config["hidden"] = header["architecture"]["hidden"]
        config["classes"] = header["architecture"]["classes"]

    log.info("configuration: %s", json.dumps(_jsonable(config)))
    seeds = np.random.SeedSequence(config["seed"]).spawn(2)
    dtype = np.dtype(config["dtype"])
    x, y, x_val, y_val = data.load(config["dataset"], config["samples"], config["classes"],
                                   config["seed"])
    x, x_val = x.astype(dtype), x_val.astype(dtype)

    def new_network():
        # The same seed, so every call starts from the same initial weights.
        return Network(x.shape[1], config["hidden"], config["classes"],
                       dropout=config["dropout"], l1=config["l1"], l2=config["l2"],
                       rng=np.random.default_rng(seeds[0]), dtype=dtype)

    network = new_network()
    start = 0
    if header is not None:
        for name, array in network.parameters():
            array[...] = arrays[name]
        start = header["epoch"]
        log.info("loaded %s: a %s network trained for %d epochs", config["load"],
                 "-".join(map(str, [2, *config["hidden"], config["classes"]])), start)

    if config["check_gradients"] and not report_gradient_check(network, x, y):
        return EXIT_DIVERGED
    if config["optimizer"] == "all":
        return run_all(config, new_network, (x, y, x_val, y_val), seeds[1])
    optimizer = make_optimizer(config["optimizer"], config["hyperparameters"])
    if config["explain"]:
        from explain import explain_step
        from train import batches

        # The first batch that training would see: all of it, or a shuffled mini-batch.
        batch = batches(len(y), config["batch_size"], np.random.default_rng(seeds[1]))[0]
        print(explain_step(network, optimizer, x[batch], y[batch]))
        return EXIT_OK

    result, seconds, snapshots = train_one(config, network, optimizer, (x, y, x_val, y_val),
                                           seeds[1], start)
    final = result.final
    written = write_outputs(config, result, network, x, y, snapshots)
    print(f"{result.status}: {result.epochs_done - start}/{config['epochs']} epochs in "
          f"{seconds:.2f} s; training accuracy {final['accuracy']:.3f}, "
          f"loss {final['loss']:.3f}; validation accuracy {final['val_accuracy']:.3f}, "
          f"loss {final['val_loss']:.3f}")
    for path in written:
        print(f"wrote {path}")
    return EXIT_STATUS[result.status]


def make_optimizer(name, hyperparameters):
    import optimizers

    classes = {"gd": optimizers.SGD, "adagrad": optimizers.Adagrad,
               "rmsprop": optimizers.RMSProp, "adam": optimizers.Adam}
    return classes[name](**hyperparameters)


def train_one(config, network, optimizer, datasets, shuffle_seed, start=0, prefix=""):
    """Train one network; returns (train.Result, seconds, parameter snapshots)."""
    import numpy as np

    from train import COMPLETED, train

    x, y, x_val, y_val = datasets
    last_epoch = start + config["epochs"]
    snapshots = [] if config["animate"] is not None else None

    def on_log(row, _network):
        log.info(prefix + format_row(row, last_epoch))
        for index, stats in enumerate(row.get("layers", ())):
            log.debug("  dense%d  |W| %.4g  |dW| %.4g  |update|/|W| %.3g", index,
                      stats["weight_norm"], stats["grad_norm"], stats["update_ratio"])
        if snapshots is not None:
            snapshots.append(network.flat_parameters.copy())

    started = time.perf_counter()
    result = train(network, optimizer, x, y, x_val, y_val, epochs=config["epochs"],
                   log_every=config["log_every"], batch_size=config["batch_size"],
                   rng=np.random.default_rng(shuffle_seed), on_log=on_log,
                   layer_stats=log.isEnabledFor(logging.DEBUG), start=start,
                   patience=config["patience"], min_delta=config["min_delta"])
    seconds = time.perf_counter() - started
    if result.epochs_done == 0:  # nothing trained: report the network as it stands
        result.epochs_done = start
        result.final = evaluation_row(network, optimizer, datasets, start)
        result.rows.append(result.final)
        on_log(result.final, network)
    if result.status != COMPLETED:
        log.warning(prefix + result.message)
    return result, seconds, snapshots


def evaluation_row(network, optimizer, datasets, epoch):
    """A metrics row for the network as it is, with dropout off and no update."""
    x, y, x_val, y_val = datasets
    data_loss, train_accuracy = network.evaluate(x, y)
    reg_loss = network.regularization_loss()
    val_loss, val_accuracy = network.evaluate(x_val, y_val)
    return dict(epoch=epoch, loss=data_loss + reg_loss, data_loss=data_loss,
                reg_loss=reg_loss, accuracy=train_accuracy,
                learning_rate=optimizer.current_learning_rate, val_loss=val_loss,
                val_accuracy=val_accuracy)


def write_outputs(config, result, network, x, y, snapshots):
    """Metrics, figure, animation and checkpoint, as asked; returns the paths written."""
    from train import DIVERGED

    written = []
    if config["metrics"] is not None:
        from metrics import write_metrics

        write_metrics(result.rows, config["metrics"], config=_jsonable(config))
        written.append(config["metrics"])
    if config["plot"] is not None:
        from plots import plot_training

        title = (f"{config['optimizer']}: {result.epochs_done} epochs, "
                 f"validation accuracy {result.final['val_accuracy']:.3f}")
        written.append(plot_training(result.rows, network, x, y, config["plot"],
                                     title=title, show=config["show"]))
        config_path = config["plot"].with_suffix(".config.json")
        config_path.write_text(json.dumps(_jsonable(config), indent=1) + "\n")
        written.append(config_path)
    if config["animate"] is not None:
        from plots import animate_training

        written.append(animate_training(result.rows, snapshots, network, x, y,
                                        config["animate"], title=config["optimizer"]))
    if config["save"] is not None and result.status != DIVERGED:
        import checkpoint
        from metrics import record

        checkpoint.save(config["save"], network, epoch=result.final["epoch"],
                        config=_jsonable(config), metrics=record(result.final))
        written.append(config["save"])
    elif config["save"] is not None:
        log.warning("not saving %s: the weights are not finite", config["save"])
    return written


def report_gradient_check(network, x, y):
    """Print the gradient check of the network; True when every error is below 1e-5."""
    from gradcheck import check_network

    tolerance = 1e-5
    left_out, results = check_network(network, x, y)
    print("gradient check: backpropagation against central differences "
          f"(float64, h = 1e-5, dropout masks fixed), on {min(len(y), 100) - left_out} "
          f"samples ({left_out} left out: they sit on a ReLU kink)")
    print(f"  {'parameter':16} {'shape':>10} {'relative error':>15} {'checked':>8} "
          f"{'skipped':>8}")
    shapes = dict(network.parameters())
    for name, error, checked, skipped in results:
        mark = "" if error <= tolerance else "  <- above 1e-5"
        print(f"  {name:16} {str(shapes[name].shape):>10} {error:15.2e} {checked:8d} "
              f"{skipped:8d}{mark}")
    worst = max(error for _, error, _, _ in results)
    passed = worst <= tolerance
    print(f"worst relative error {worst:.2e}: "
          + ("all below 1e-5" if passed else "FAILED, above 1e-5; not training"))
    return passed


def run_all(config, new_network, datasets, shuffle_seed):
    """Train every optimizer from the same start, compare them, and report."""
    from train import COMPLETED, DIVERGED, INTERRUPTED

    x, y = datasets[0], datasets[1]
    runs = {}
    for name, hyperparameters in OPTIMIZER_DEFAULTS.items():
        network = new_network()
        result, seconds, _ = train_one(dict(config, animate=None), network,
                                       make_optimizer(name, hyperparameters), datasets,
                                       shuffle_seed, prefix=f"{name:8}")
        runs[name] = (result, network, seconds)
        if result.status == INTERRUPTED:
            break

    written = []
    if config["metrics"] is not None:
        from metrics import write_metrics

        for name, (result, _, _) in runs.items():
            path = config["metrics"].with_name(
                f"{config['metrics'].stem}-{name}{config['metrics'].suffix}")
            write_metrics(result.rows, path, config=_jsonable(config))
            written.append(path)
    if config["plot"] is not None:
        from plots import plot_comparison

        written.append(plot_comparison({name: (r.rows, net) for name, (r, net, _) in
                                        runs.items()}, x, y, config["plot"],
                                       show=config["show"]))
    print(f"{'optimizer':10} {'train acc':>9} {'train loss':>10} {'val acc':>8} "
          f"{'val loss':>8} {'seconds':>8}  status")
    for name, (result, _, seconds) in runs.items():
        final = result.final
        print(f"{name:10} {final['accuracy']:9.3f} {final['loss']:10.3f} "
              f"{final['val_accuracy']:8.3f} {final['val_loss']:8.3f} {seconds:8.2f}  "
              f"{result.status}")
    for path in written:
        print(f"wrote {path}")
    statuses = {result.status for result, _, _ in runs.values()}
    if INTERRUPTED in statuses:
        return EXIT_INTERRUPTED
    return EXIT_DIVERGED if DIVERGED in statuses else EXIT_STATUS[COMPLETED]


def format_row(row, epochs):
    return (f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  "
            f"loss {row['loss']:.4f} (data {row['data_loss']:.4f} + reg {row['reg_loss']:.4f})  "
            f"acc {row['accuracy']:.3f}  lr {row['learning_rate']:.6g}  "
            f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.3f}")


def _jsonable(config):
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in config.items()}


if __name__ == "__main__":
    sys.exit(main())
