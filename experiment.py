"""One run of the program: data, network, optimizer, training, outputs and report.

``run(args)`` takes the parsed flags (``cli.parse``), resolves them into
the run's configuration (with ``--load``, together with the saved run's)
and returns the exit status. ``--optimizer all`` is the same single run,
once per registered optimizer, followed by a comparison.
"""

import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import checkpoint
import cli
import interrupts
import plots
import registry
from explain import explain_step
from gradcheck import check_network
from metrics import record, write_metrics
from model import build
from train import COMPLETED, DIVERGED, INTERRUPTED, batches, columns, train

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = interrupts.EXIT_STATUS["SIGINT"]  # a KeyboardInterrupt
GRADIENT_TOLERANCE = 1e-5


@dataclass
class Outcome:
    """What one training run did: its result, the evaluation it ends on, the files written."""

    name: str
    result: object  # train.Result
    final: dict     # the returned network evaluated: the row the report and checkpoint show
    seconds: float
    written: list


def run(args, stop=None):
    """Run as the flags say; returns the exit status.

    ``stop`` (an ``interrupts.Stop``) is how signals reach the training loop.
    """
    stop = interrupts.Stop() if stop is None else stop
    try:
        saved = checkpoint.load(args.load) if args.load is not None else None
        config = cli.resolve(args, saved[0].get("config") if saved else None)
        for key in ("metrics", "plot", "animate", "save"):
            if config[key] is not None:
                check_writable(config[key], f"--{key}")
        dataset = load_dataset(config)
        head = registry.build(registry.HEADS[config["loss"]])
        n_outputs = head.n_outputs(dataset.n_classes)
        if saved is not None:
            _check_fits(saved[0]["architecture"], dataset, n_outputs, config)
    except checkpoint.CheckpointError as error:
        return _usage_error(f"argument --load: {error}")
    except ValueError as error:  # cli.UsageError included
        return _usage_error(str(error))

    log.info("configuration: %s", json.dumps(jsonable(config)))
    seeds = np.random.SeedSequence(config["seed"]).spawn(2)

    def new_network():
        # The same seed every time: every call starts from the same initial weights.
        return build(dataset.n_features, config["hidden"], n_outputs,
                     registry.build(registry.HEADS[config["loss"]]), dropout=config["dropout"],
                     l1=config["l1"], l2=config["l2"], weight_scale=config["weight_scale"],
                     rng=np.random.default_rng(seeds[0]), dtype=np.dtype(config["dtype"]))

    network, start = new_network(), 0
    if saved is not None:
        header, arrays = saved
        for name, array in network.parameters():
            array[...] = arrays[name]
        start = header["epoch"]
        log.info("loaded %s: a %s network trained for %d epochs", config["load"],
                 "-".join(map(str, network.widths())), start)

    if config["check_gradients"] and not report_gradient_check(network, dataset):
        return cli.EXIT_FAILED
    if config["optimizer"] == "all":
        return run_all(config, dataset, new_network, seeds[1], stop)
    optimizer = make_optimizer(config["optimizer"], config["hyperparameters"])
    if config["explain"]:
        # The first batch that training would see: all of it, or a shuffled mini-batch.
        batch = batches(len(dataset.y_train), config["batch_size"],
                        np.random.default_rng(seeds[1]))[0]
        print(explain_step(network, optimizer, dataset.x_train[batch], dataset.y_train[batch]))
        return cli.EXIT_OK
    outcome = run_one(config, dataset, network, optimizer, seeds[1], start, stop=stop)
    report(outcome, config, start)
    return exit_status([outcome], stop)


def _usage_error(message):
    print(f"main.py: error: {message}", file=sys.stderr)
    return cli.EXIT_USAGE


def load_dataset(config):
    """The configured dataset, its arrays in the configured dtype (labels stay integers)."""
    entry = registry.DATASETS[config["dataset"]]
    options = {key: config[key] for key in entry.options}
    dataset = registry.build(entry, seed=config["seed"], **options)
    dtype = np.dtype(config["dtype"])
    dataset.x_train, dataset.x_val = dataset.x_train.astype(dtype), dataset.x_val.astype(dtype)
    if dataset.task == "regression":
        dataset.y_train, dataset.y_val = (dataset.y_train.astype(dtype),
                                          dataset.y_val.astype(dtype))
    return dataset


def _check_fits(architecture, dataset, n_outputs, config):
    """Refuse a saved network that the configured data does not fit."""
    if architecture["n_inputs"] != dataset.n_features:
        raise cli.UsageError(f"argument --load: the network takes {architecture['n_inputs']} "
                             f"features; --dataset {config['dataset']} has "
                             f"{dataset.n_features}")
    if architecture["outputs"] != n_outputs:
        raise cli.UsageError(f"argument --load: the network has {architecture['outputs']} "
                             f"outputs; --dataset {config['dataset']} with --loss "
                             f"{config['loss']} needs {n_outputs}")


def make_optimizer(name, hyperparameters):
    """The registered optimizer ``name``, on its fused fast path when it has one."""
    entry = registry.OPTIMIZERS[name]
    return registry.build(entry, **hyperparameters, **({"fused": True} if entry.fused else {}))


def run_one(config, dataset, network, optimizer, shuffle_seed, start=0, prefix="", stop=None):
    """Train one network and write its outputs; returns its ``Outcome``."""
    result, seconds, snapshots = train_one(config, network, optimizer, dataset, shuffle_seed,
                                           start, prefix, stop)
    final = evaluation_row(network, optimizer, dataset, result.epochs_done)
    with stop.writing() if stop is not None else contextlib.nullcontext():
        written = write_outputs(config, result, final, network, dataset, snapshots)
    return Outcome(config["optimizer"], result, final, seconds, written)


def train_one(config, network, optimizer, dataset, shuffle_seed, start=0, prefix="",
              stop=None):
    """Train one network; returns (train.Result, seconds, parameter snapshots)."""
    last_epoch = start + config["epochs"]
    snapshots = [] if config["animate"] is not None else None

    def on_log(row, _network):
        log.info(prefix + format_row(row, last_epoch))
        for index, stats in enumerate(row.get("layers", ())):
            log.debug("  dense%d  |W| %.4g  |dW| %.4g  |update|/|W| %.3g", index,
                      stats["weight_norm"], stats["grad_norm"], stats["update_ratio"])
        if snapshots is not None:
            snapshots.append([array.copy() for _, array in network.parameters()])

    started = time.perf_counter()
    result = train(network, optimizer, dataset.x_train, dataset.y_train, dataset.x_val,
                   dataset.y_val, epochs=config["epochs"], log_every=config["log_every"],
                   batch_size=config["batch_size"], rng=np.random.default_rng(shuffle_seed),
                   on_log=on_log, layer_stats=log.isEnabledFor(logging.DEBUG), start=start,
                   patience=config["patience"], min_delta=config["min_delta"], stop=stop)
    seconds = time.perf_counter() - started
    if result.epochs_done == 0:  # nothing trained: report the network as it stands
        result.epochs_done = start
        result.rows.append(evaluation_row(network, optimizer, dataset, start))
        on_log(result.rows[-1], network)
    if result.status != COMPLETED:
        log.warning(prefix + result.message)
    return result, seconds, snapshots


def evaluation_row(network, optimizer, dataset, epoch):
    """A metrics row for the network as it is, with dropout off and no update.

    A diverged network gives NaN figures, which the report shows as they are.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        train_figures = network.evaluate(dataset.x_train, dataset.y_train)
        reg_loss = network.regularization_loss()
        validation = network.evaluate(dataset.x_val, dataset.y_val)
    data_loss = train_figures.pop("loss")
    row = dict(epoch=epoch, loss=data_loss + reg_loss, data_loss=data_loss, reg_loss=reg_loss,
               learning_rate=optimizer.current_learning_rate, **train_figures)
    row.update({f"val_{key}": value for key, value in validation.items()})
    return row


def write_outputs(config, result, final, network, dataset, snapshots):
    """Metrics, figure, configuration, animation and checkpoint, as asked; returns the paths."""
    written = []
    names = columns(network.head)
    if config["metrics"] is not None:
        write_metrics(result.rows, config["metrics"], names, config=jsonable(config))
        written.append(config["metrics"])
    if config["plot"] is not None:
        title = (f"{config['optimizer']}: {result.epochs_done} epochs, "
                 f"validation accuracy {final['val_accuracy']:.3f}")
        written.append(plots.plot_training(result.rows, network, dataset, config["plot"],
                                           title=title, show=config["show"]))
        config_path = config["plot"].with_suffix(".config.json")
        config_path.write_text(json.dumps(jsonable(config), indent=1) + "\n")
        written.append(config_path)
    if config["animate"] is not None:
        written.append(plots.animate_training(result.rows, snapshots, network, dataset,
                                              config["animate"], title=config["optimizer"]))
    if config["save"] is not None and result.status != DIVERGED:
        checkpoint.save(config["save"], network, loss=config["loss"], epoch=final["epoch"],
                        config=jsonable(config), metrics=record(final, names))
        written.append(config["save"])
    elif config["save"] is not None:
        log.warning("not saving %s: the weights are not finite", config["save"])
    return written


def report(outcome, config, start):
    """The run's final line, and the files written, on standard output."""
    result, final = outcome.result, outcome.final
    r2 = (f", R² {final['r2']:.3f}", f", R² {final['val_r2']:.3f}") if "r2" in final else ("", "")
    print(f"{result.status}: {result.epochs_done - start}/{config['epochs']} epochs in "
          f"{outcome.seconds:.2f} s; training accuracy {final['accuracy']:.3f}{r2[0]}, "
          f"loss {final['loss']:.3g}; validation accuracy {final['val_accuracy']:.3f}{r2[1]}, "
          f"loss {final['val_loss']:.3g}")
    for path in outcome.written:
        print(f"wrote {path}")


def report_gradient_check(network, dataset):
    """Print the gradient check of the network; True when every error is below 1e-5."""
    x, y = dataset.x_train, dataset.y_train
    left_out, results = check_network(network, x, y)
    print("gradient check: backpropagation against central differences "
          f"(float64, h = 1e-5, dropout masks fixed), on {min(len(y), 100) - left_out} "
          f"samples ({left_out} left out: they sit on a ReLU kink)")
    print(f"  {'parameter':16} {'shape':>10} {'relative error':>15} {'checked':>8} "
          f"{'skipped':>8}")
    shapes = dict(network.parameters())
    for name, error, checked, skipped in results:
        mark = "" if error <= GRADIENT_TOLERANCE else "  <- above 1e-5"
        print(f"  {name:16} {str(shapes[name].shape):>10} {error:15.2e} {checked:8d} "
              f"{skipped:8d}{mark}")
    worst = max(error for _, error, _, _ in results)
    passed = worst <= GRADIENT_TOLERANCE
    print(f"worst relative error {worst:.2e}: "
          + ("all below 1e-5" if passed else "FAILED, above 1e-5; not training"))
    return passed


def _suffixed(path, name):
    """plots/all.png -> plots/all-adam.png: one output file per optimizer compared."""
    return None if path is None else path.with_name(f"{path.stem}-{name}{path.suffix}")


def run_all(config, dataset, new_network, shuffle_seed, stop):
    """Every registered optimizer through the single-run code, then a comparison."""
    outcomes, networks = [], {}
    for name in registry.OPTIMIZERS:
        own = dict(config, optimizer=name,
                   hyperparameters=cli.optimizer_defaults(name, config["dataset"]),
                   **{key: _suffixed(config[key], name)
                      for key in ("metrics", "plot", "animate", "save")})
        network = new_network()
        outcome = run_one(own, dataset, network, make_optimizer(name, own["hyperparameters"]),
                          shuffle_seed, prefix=f"{name:8}", stop=stop)
        outcomes.append(outcome)
        networks[name] = network
        if outcome.result.status == INTERRUPTED:
            break

    written = []
    if config["plot"] is not None:
        written.append(plots.plot_comparison(
            {o.name: (o.result.rows, networks[o.name]) for o in outcomes}, dataset,
            config["plot"], show=config["show"]))
    print(f"{'optimizer':10} {'train acc':>9} {'train loss':>10} {'val acc':>8} "
          f"{'val loss':>8} {'seconds':>8}  status")
    for outcome in outcomes:
        final = outcome.final
        print(f"{outcome.name:10} {final['accuracy']:9.3f} {final['loss']:10.3f} "
              f"{final['val_accuracy']:8.3f} {final['val_loss']:8.3f} {outcome.seconds:8.2f}  "
              f"{outcome.result.status}")
    for path in [path for outcome in outcomes for path in outcome.written] + written:
        print(f"wrote {path}")
    return exit_status(outcomes, stop)


def exit_status(outcomes, stop):
    """0 done, 1 a run diverged, 128 + the signal's number when a signal stopped it."""
    statuses = {outcome.result.status for outcome in outcomes}
    if INTERRUPTED in statuses:
        return interrupts.EXIT_STATUS.get(stop.cause, EXIT_INTERRUPTED)
    return cli.EXIT_FAILED if DIVERGED in statuses else cli.EXIT_OK


def format_row(row, epochs):
    r2 = (f"  r2 {row['r2']:.4f}", f"  val_r2 {row['val_r2']:.4f}") if "r2" in row else ("", "")
    return (f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  "
            f"loss {row['loss']:.4f} (data {row['data_loss']:.4f} + reg {row['reg_loss']:.4f})  "
            f"acc {row['accuracy']:.3f}{r2[0]}  lr {row['learning_rate']:.6g}  "
            f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.3f}{r2[1]}")


def jsonable(config):
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in config.items()}


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
