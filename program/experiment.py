"""One run of the program: data, network, optimizer, training, outputs and report.

``run(args, stop)`` takes the parsed flags (``cli.parse``), resolves them into
the run's configuration (with ``--load``, together with the saved run's),
trains, writes the outputs and returns the exit status. ``--optimizer all``
and ``--sweep`` are this single run (``run_one``) several times
(``sweep.py``); ``--predict`` only reads a saved network and answers for
new inputs.

Exit status: 0 done, 1 training diverged or the gradient check failed,
2 bad input, 3 an output could not be written (the others were), and
128 + the signal's number when a signal stopped the run: 130 Ctrl-C,
141 a closed output pipe, 143 SIGTERM.
"""

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layers import Dropout
from program import checkpoint, cli, data, interrupts, outputs, plots, registry
from program.explain import explain_step
from program.gradcheck import check_network
from program.metrics import record, write_metrics
from program.model import build, specs
from program.train import (
    COMPLETED,
    DIVERGED,
    EARLY_STOPPED,
    INTERRUPTED,
    EarlyStopping,
    batches,
    columns,
    train,
)

log = logging.getLogger(__name__)

EXIT_OUTPUTS = 3
GRADIENT_TOLERANCE = 1e-5


@dataclass
class Outcome:
    """What one training run did: its result, the evaluation it ends on, the files written."""

    name: str
    result: object   # train.Result
    final: dict      # the returned network evaluated: the row the report and checkpoint show
    seconds: float
    written: list
    failed: int      # outputs that could not be written


@dataclass
class Trainee:
    """A network with its optimizer and the random streams that training draws from."""

    network: object
    optimizer: object
    rngs: dict  # "shuffle" -> the mini-batch order, "dropout" -> the masks (when dropout is on)
    failed: int = 0  # periodic checkpoints (--checkpoint-every) that could not be written
    early: object = None  # train.EarlyStopping with --patience: the best evaluation so far


def run(args, stop=None):
    """Run as the flags say; returns the exit status.

    ``stop`` (an ``interrupts.Stop``) is how signals reach the training loop.
    """
    stop = interrupts.Stop() if stop is None else stop
    # Several runs, built on this module's single run: imported here, as it imports this one.
    from program import sweep

    if args.sweep:
        return sweep.run(args, stop)
    try:
        # The header first: the data is checked against it (its width, the network's
        # size) before any parameter is decompressed, then the whole file is read.
        saved = checkpoint.load(args.load, arrays=False) if args.load is not None else None
        config = cli.resolve(args, _saved_config(saved))
        if saved is not None:
            _check_settings_fit_network(config, saved, args.load)
        _check_inputs_are_not_outputs(config)
        if config["predict"] is not None:
            saved = checkpoint.load(args.load)
            checkpoint.check_dtype(saved, np.dtype(config["dtype"]))
            return predict(config, saved)
        outputs.check(planned_outputs(config))
        dataset = load_dataset(config, saved)
        if saved is not None:
            saved = checkpoint.load(args.load)
            checkpoint.check_dtype(saved, np.dtype(config["dtype"]))
        n_outputs = registry.build(registry.HEADS[config["loss"]]).n_outputs(dataset.n_classes)
        if saved is not None:
            _check_fits(saved, dataset, n_outputs, config)
        new_trainee = _trainees(config, dataset, n_outputs,
                                start=saved.epoch if saved is not None else 0)
        if config["optimizer"] == "all":
            trainee = new_trainee("adam", cli.optimizer_defaults("adam", config["dataset"]))
            sweep.check_jobs(args.jobs)
        else:
            trainee = new_trainee(config["optimizer"], config["hyperparameters"])
        start = resume(saved, trainee, config, dataset) if saved is not None else 0
    except checkpoint.CheckpointError as error:
        return _usage_error(f"argument --load: {error}")
    except ValueError as error:  # cli.UsageError and data.DataError included
        return _usage_error(str(error))

    log.info("configuration: %s", json.dumps(jsonable(config)))
    warning = warmup_warning(config, dataset, start)
    if warning:
        log.warning(warning)
    if config["check_gradients"] and not report_gradient_check(
            trainee.network, dataset, config["gradient_sample"]):
        return cli.EXIT_FAILED
    if config["optimizer"] == "all":
        return sweep.run_all(config, dataset, stop, jobs=args.jobs or 1)
    if config["explain"]:
        # The first batch that training would see: all of it, or a shuffled mini-batch.
        batch = batches(len(dataset.y_train), config["batch_size"], trainee.rngs["shuffle"],
                        trainee.network.min_batch)[0]
        print(explain_step(trainee.network, trainee.optimizer, dataset.x_train[batch],
                           dataset.y_train[batch]))
        return cli.EXIT_OK
    outcome = run_one(config, dataset, trainee, start, stop)
    report(outcome, config, start)
    return exit_status([outcome], stop)


def warmup_warning(config, dataset, start=0):
    """The warning for a --warmup longer than the run's steps, or None."""
    # Counted from the first epoch, a loaded run's included, as the optimizer counts them.
    steps = (start + config["epochs"]) * _steps_per_epoch(len(dataset.y_train),
                                                          config["batch_size"])
    if config["epochs"] and config["warmup"] > steps:
        return (f"--warmup {config['warmup']} is longer than this run's {steps} steps: the "
                "learning rate never reaches --learning-rate")
    return None


# The most the parameters, their gradients and an optimizer's state may take:
# a network beyond it is refused before anything is allocated.
MAX_NETWORK_BYTES = 4 << 30


def _trainees(config, dataset, n_outputs, start=0):
    """A function making a fresh ``Trainee`` for an optimizer; checks the network first.

    ``start``: the epochs a loaded network has already trained, which a
    schedule over the run's total steps counts.
    """
    image_shape = None
    if config["conv"]:
        if dataset.image_shape is None:
            raise cli.UsageError(f"argument --conv: convolution needs images, and --dataset "
                                 f"{config['dataset']} is not images (use --dataset digits or "
                                 "--data with a folder of images)")
        image_shape = (1, *dataset.image_shape)  # the images are read as grey levels
    try:
        parameters, needed = _network_size(config, dataset.n_features, image_shape, n_outputs)
    except ValueError as error:  # more blocks than the images' size allows
        raise cli.UsageError(f"argument --conv: {error}") from None
    if needed > MAX_NETWORK_BYTES:
        widths = _stack_text(dataset.n_features, image_shape, config, n_outputs)
        raise cli.UsageError(f"argument {_size_flag(config)}: a {widths} network has "
                             f"{parameters:,} parameters and would need {needed / 2**30:.0f} "
                             f"GiB with its optimizer, more than {MAX_NETWORK_BYTES >> 30} GiB")
    seeds = np.random.SeedSequence(config["seed"]).spawn(2)

    def new_trainee(optimizer_name, hyperparameters):
        # The same seeds every time: the same initial weights, masks and batch orders.
        with np.errstate(over="ignore"):  # weights beyond the dtype's range: refused below
            network = build(dataset.n_features, config["hidden"], n_outputs,
                            registry.build(registry.HEADS[config["loss"]]),
                            dropout=config["dropout"], l1=config["l1"], l2=config["l2"],
                            weight_scale=config["weight_scale"],
                            activation=config["activation"], init=config["init"],
                            conv=config["conv"], kernel=config["kernel"], norm=config["norm"],
                            image_shape=image_shape,
                            rng=np.random.default_rng(seeds[0]),
                            dtype=np.dtype(config["dtype"]))
        if config["batch_size"] is not None and config["batch_size"] < network.min_batch:
            raise cli.UsageError(f"argument --batch-size: --norm {config['norm']} needs "
                                 f"mini-batches of at least {network.min_batch} samples, got "
                                 f"{config['batch_size']}")
        if not network.is_finite():
            raise cli.UsageError(f"argument --weight-scale: initial weights of scale "
                                 f"{config['weight_scale']:g} do not fit {config['dtype']}")
        rngs = {"shuffle": np.random.default_rng(seeds[1])}
        dropouts = [layer for layer in network.layers if isinstance(layer, Dropout)]
        if dropouts:
            rngs["dropout"] = dropouts[0].rng  # one generator, shared by every Dropout
        total_steps = None
        if config["schedule"] != cli.DEFAULTS["schedule"]:  # one that needs the run's length
            total_steps = (start + config["epochs"]) * _steps_per_epoch(len(dataset.y_train),
                                                                         config["batch_size"])
        early = (EarlyStopping(config["patience"], config["min_delta"])
                 if config["patience"] else None)
        return Trainee(network, make_optimizer(optimizer_name, hyperparameters, config,
                                               total_steps), rngs, early=early)

    return new_trainee


def trainee_for(config, dataset):
    """A fresh ``Trainee`` of ``config``'s network and optimizer for ``dataset``, checked
    as ``_trainees`` checks it."""
    n_outputs = registry.build(registry.HEADS[config["loss"]]).n_outputs(dataset.n_classes)
    return _trainees(config, dataset, n_outputs)(config["optimizer"], config["hyperparameters"])


def _stack_text(n_features, image_shape, config, n_outputs=None):
    """'2-64-3', or '1x28x28-conv16-conv32-128-10' for a convolution network."""
    first = "x".join(map(str, image_shape)) if config["conv"] else str(n_features)
    parts = [first, *(f"conv{c}" for c in config["conv"]), *map(str, config["hidden"])]
    return "-".join(parts + ([str(n_outputs)] if n_outputs is not None else []))


def _size_flag(config):
    """The flag to blame for a network too large: the convolutions when there are any."""
    return "--conv" if config["conv"] else "--hidden"


def _network_size(config, n_features, image_shape, n_outputs):
    """(parameters, bytes with an optimizer) of the configured network, before it is built.

    Bytes count the parameters, their gradients and up to two state arrays
    (Adam's m and v) each. ValueError when the images are too small for the
    convolution blocks.
    """
    layer_specs = specs(n_features, config["hidden"], n_outputs, conv=config["conv"],
                        kernel=config["kernel"], image_shape=image_shape)
    parameters = sum(_parameter_count(kind, settings) for kind, settings in layer_specs)
    return parameters, 4 * parameters * np.dtype(config["dtype"]).itemsize


def _parameter_count(kind, settings):
    """Parameters of a Dense or Conv2D layer of these settings (0 for other kinds)."""
    if kind == "dense":
        return (settings["n_inputs"] + 1) * settings["n_neurons"]
    if kind == "conv2d":
        fan_in = settings["in_channels"] * settings["kernel_size"] ** 2
        return (fan_in + 1) * settings["out_channels"]
    return 0


def _steps_per_epoch(n, batch_size):
    return 1 if batch_size is None or batch_size >= n else -(-n // batch_size)


def _check_inputs_are_not_outputs(config):
    """Refuse an output that would overwrite an input (--save over --load is the exception)
    or be written inside an input folder."""
    # A --predict run writes nothing (cli refuses outputs beside it): only these can clash.
    inputs = {"--load": config["load"], "--data": config["data"]}
    planned = planned_outputs(config)
    for in_flag, in_path in inputs.items():
        if in_path is None:
            continue
        for out_flag, (out_path, _) in planned.items():
            if out_flag == "--save" and in_flag == "--load":
                continue  # going on from a checkpoint and saving it again
            source, written = os.path.realpath(in_path), os.path.realpath(out_path)
            if source == written:
                raise cli.UsageError(f"argument {out_flag}: {str(out_path)!r} is the input of "
                                     f"{in_flag}, which it would overwrite")
            if os.path.isdir(source) and written.startswith(os.path.join(source, "")):
                # The next run would read it as data: an image, or a file that breaks it.
                fix = ("give --plot PATH outside it, or --no-plot"
                       if out_flag.startswith("--plot") else "write it elsewhere")
                raise cli.UsageError(f"argument {out_flag}: {str(out_path)!r} is inside the "
                                     f"folder of {in_flag} {str(in_path)!r}, which the next "
                                     f"run would read as data; {fix}")


def _check_settings_fit_network(config, saved, path):
    """Refuse a saved run whose settings describe another network than the one it holds.

    Checked before any network is built from the settings (hidden widths
    and head): a file of a few kilobytes could otherwise have one of
    gigabytes built before it is refused.
    """
    architecture = saved.architecture
    for key in ("hidden", "loss", "conv", "norm", "activation", "kernel"):
        if key == "kernel" and not architecture["conv"]:
            continue  # a dense network has no kernel to contradict
        if key == "activation" and architecture[key] is None:
            continue  # a network without hidden layers has no activation
        if config[key] != architecture[key]:
            raise cli.UsageError(f"argument --load: the run saved in {str(path)!r} has {key} "
                                 f"{cli.shown(config[key])}, but the network it holds has "
                                 f"{key} {cli.shown(architecture[key])}")


def _usage_error(message):
    print(f"main.py: error: {message}", file=sys.stderr)
    return cli.EXIT_USAGE


def _saved_config(saved):
    """The saved run's configuration, over what its architecture says.

    A checkpoint written by another program (config null) is known by its
    network alone; a hand-written config that leaves out a setting of the
    network (its hidden widths, say) takes it from the network too, rather
    than the program's default, which the file never held.
    """
    if saved is None:
        return None
    architecture = saved.architecture
    known = dict(hidden=architecture["hidden"], loss=architecture["loss"],
                 dtype=saved.dtype.name, conv=architecture["conv"], norm=architecture["norm"])
    if architecture["activation"] is not None:
        known["activation"] = architecture["activation"]
    if architecture["kernel"] is not None:
        known["kernel"] = architecture["kernel"]
    return known if saved.config is None else {**known, **saved.config}


def planned_outputs(config):
    """{flag: (path, kind)} of every file the run is to write, for ``outputs.check``."""
    planned = {}
    names = [config["optimizer"]] if config["optimizer"] != "all" else list(registry.OPTIMIZERS)
    for name in names:
        own = config if config["optimizer"] != "all" else _own_config(config, name)
        label = "" if own is config else f" ({name})"
        for flag, key, kind in (("--metrics", "metrics", "metrics"), ("--plot", "plot", "figure"),
                                ("--animate", "animate", "gif"), ("--save", "save", "checkpoint")):
            if own[key] is not None:
                planned[f"{flag}{label}"] = (own[key], kind)
        if config_file(own) is not None:
            planned[f"--plot{label} (its .config.json)"] = (config_file(own), "metrics")
    if config["optimizer"] == "all" and config["plot"] is not None:
        planned["--plot"] = (config["plot"], "figure")
    return planned


def load_dataset(config, saved=None):
    """The configured data, in the configured dtype (labels stay integers).

    With a saved network that was trained on standardised features, the
    features are standardised as it saw them: with the saved statistics. A
    dataset read from ``--data`` is also read as ``--header`` and
    ``--label-column`` say, and checked against the network (``_data_check``)
    as soon as its first row or image shows the width, before the rest is read.
    """
    entry = registry.DATASETS[config["dataset"]]
    _check_saved_data_path(config, saved)
    options = {key: config[key] for key in entry.options}
    dtype = np.dtype(config["dtype"])
    if "data" in entry.options:
        options.update({key: config[key] for key in cli.READING}, dtype=dtype,
                       check=_data_check(config, saved))
        if saved is not None and saved.scaler is not None:
            options["scaler"] = saved.scaler
    dataset = registry.build(entry, seed=config["seed"], **options)
    _check_head_fits(config, saved, dataset)
    _check_feature_names(config, saved, dataset)
    if saved is not None and saved.scaler is not None and dataset.scaler is not None:
        dataset = _rescaled(dataset, saved.scaler)
    # copy=False: a file's data arrives in the run's dtype already, and may be large.
    dataset.x_train = dataset.x_train.astype(dtype, copy=False)
    dataset.x_val = dataset.x_val.astype(dtype, copy=False)
    if dataset.task == "regression":
        dataset.y_train, dataset.y_val = (dataset.y_train.astype(dtype),
                                          dataset.y_val.astype(dtype))
    return dataset


def _check_saved_data_path(config, saved):
    """Refuse a --data path taken from the loaded run that is not there, saying where it
    came from: the user may never have typed it in this folder."""
    path = config.get("data")
    if (path is None or saved is None or saved.config is None
            or saved.config.get("data") != path or os.path.exists(path)):
        return
    relative = "" if os.path.isabs(path) else ", relative to the folder that run started in"
    raise data.DataError(f"{data.absent(path)}: it is the --data of the run saved in "
                         f"{data.quoted(config['load'])}{relative}; give --data PATH to "
                         f"read the data from elsewhere")


def _check_feature_names(config, saved, dataset):
    """Refuse data whose header names other columns, or the same in another order, than
    those the loaded network was trained on: the same width is not the same features."""
    trained = None if saved is None else saved.header["features"]
    names = getattr(dataset, "feature_names", None)
    if trained is None or names is None or list(trained) == list(names):
        return
    order = " (the same, in another order)" if sorted(trained) == sorted(names) else ""
    raise cli.UsageError(f"argument --load: the network in {data.quoted(config['load'])} was "
                         f"trained on the columns {data.names_text(trained)}; --data "
                         f"{data.quoted(config['data'])} has {data.names_text(names)}{order}")


def _check_head_fits(config, saved, dataset):
    """Refuse a head that the data's classes do not fit (binary on three classes), naming
    the flag that chose it: --loss, or --load when the loaded network has it."""
    try:
        registry.build(registry.HEADS[config["loss"]]).n_outputs(dataset.n_classes)
    except ValueError as error:
        source = (f"--data {data.quoted(config['data'])}" if config.get("data") is not None
                  else f"--dataset {config['dataset']}")
        classes = (f": {data.names_text(dataset.class_names)}"
                   if dataset.class_names is not None else "")
        prefix = "argument --loss: "
        if saved is not None and saved.architecture["loss"] == config["loss"]:
            prefix = (f"argument --load: the network in {data.quoted(config['load'])} has "
                      f"the {config['loss']} head: ")
        raise cli.UsageError(f"{prefix}{error}; {source} has {dataset.n_classes} "
                             f"classes{classes}") from None


def _data_check(config, saved):
    """``check(n_features, image_shape)`` for ``data.from_path``: refuses, before the file
    is read further, data of another width than the loaded network's and a network too
    large for the data's width."""
    source = f"--data {data.quoted(config['data'])}"

    def check(n_features, image_shape):
        if saved is not None:
            n_inputs = saved.architecture["n_inputs"]
            saved_shape = saved.header["image_shape"]
            loaded = f"argument --load: the network in {data.quoted(config['load'])}"
            if n_inputs != n_features:
                what = "pixels" if image_shape is not None else "features"
                raise cli.UsageError(f"{loaded} takes {n_inputs} features; {source} has "
                                     f"{n_features} {what} a sample")
            if (saved.architecture["conv"] and image_shape is not None
                    and tuple(saved_shape) != tuple(image_shape)):
                raise cli.UsageError(f"{loaded} takes {data.size_text(saved_shape)} images; "
                                     f"{source} has {data.size_text(image_shape)} images")
        _check_network_size(config, n_features, image_shape)

    return check


def _check_network_size(config, n_features, image_shape):
    """Refuse a network beyond MAX_NETWORK_BYTES for ``n_features`` inputs, counting one
    output: a lower bound, known before the classes are (``_trainees`` checks it exactly)."""
    shape = None if image_shape is None else (1, *image_shape)
    if config["conv"] and shape is None:
        return  # refused by _trainees: convolution needs images
    try:
        parameters, needed = _network_size(config, n_features, shape, 1)
    except ValueError:
        return  # too many blocks for the images: _trainees says so, naming --conv
    if needed > MAX_NETWORK_BYTES:
        widths = _stack_text(n_features, shape, config)
        raise cli.UsageError(f"argument {_size_flag(config)}: a {widths}-... network for --data "
                             f"{data.quoted(config['data'])} has at least {parameters:,} "
                             f"parameters and would need {needed / 2**30:.0f} GiB or more with "
                             f"its optimizer, more than {MAX_NETWORK_BYTES >> 30} GiB")


def _rescaled(dataset, scaler):
    """The dataset's features standardised with ``scaler`` instead of its own statistics."""
    mean, scale = dataset.scaler
    if all(np.array_equal(a, b) for a, b in zip((mean, scale), scaler, strict=True)):
        return dataset
    log.info("standardising the features with the statistics of the loaded network's data")
    for name in ("x_train", "x_val"):
        raw = getattr(dataset, name) * scale + mean
        setattr(dataset, name, data.standardise(raw, scaler))
    dataset.scaler = scaler
    return dataset


def _check_fits(saved, dataset, n_outputs, config):
    """Refuse a saved network that the configured data does not fit."""
    architecture = saved.architecture
    source = (f"--data {data.quoted(config['data'])}" if config.get("data") is not None
              else f"--dataset {config['dataset']}")
    if architecture["n_inputs"] != dataset.n_features:
        raise cli.UsageError(f"argument --load: the network takes {architecture['n_inputs']} "
                             f"features; {source} has {dataset.n_features}")
    if architecture["outputs"] != n_outputs:
        raise cli.UsageError(f"argument --load: the network has {architecture['outputs']} "
                             f"outputs; {source} with --loss {config['loss']} needs {n_outputs}")
    saved_classes = saved.header["classes"]
    if saved_classes is not None and dataset.class_names is not None \
            and list(saved_classes) != list(dataset.class_names):
        raise cli.UsageError(f"argument --load: the network's classes are "
                             f"{data.names_text(saved_classes)}; {source} has "
                             f"{data.names_text(dataset.class_names)}")


def make_optimizer(name, hyperparameters, config=None, total_steps=None):
    """The registered optimizer ``name``, on its fused fast path when it has one.

    With ``config``, its schedule, warm-up and gradient clipping, which are
    passed only when they differ from the book's plain decay, so that an
    optimizer of a learner's own that takes none of them still runs.
    """
    entry = registry.OPTIMIZERS[name]
    options = {"fused": True} if entry.fused else {}
    if config is not None:
        if config["schedule"] != cli.DEFAULTS["schedule"]:
            options["schedule"] = registry.build_schedule(config["schedule"])
            # The run's total steps: a run that goes on from a checkpoint counts its
            # earlier epochs too.
            options["total_steps"] = max(1, total_steps or 1)
        if config["warmup"]:
            options["warmup"] = config["warmup"]
        if config["clip_norm"] is not None:
            options["clip_norm"] = config["clip_norm"]
    return registry.build(entry, **hyperparameters, **options)


# Settings that shape only how a layer starts (its initial weights) or how it is
# penalised, which a run going on may change; every other setting shapes the layer.
_NOT_STRUCTURE = {"init", "weight_scale", "weight_regularizer_l1", "weight_regularizer_l2",
                  "bias_regularizer_l1", "bias_regularizer_l2"}


def check_layers(saved, network, path):
    """Refuse a version-4 file whose layers (kind, settings) are not the network's.

    Dropout is left out (its rate may change on going on, and a prediction
    has none), and so are the settings of ``_NOT_STRUCTURE``.
    """
    if saved.header["layers"] is None or network.specs is None:
        return

    def structure(kind, settings):
        return kind, {key: value for key, value in settings.items() if key not in _NOT_STRUCTURE}

    stored = [structure(layer["kind"], layer["settings"]) for layer in saved.header["layers"]
              if layer["kind"] != "dropout"]
    built = [structure(kind, json.loads(json.dumps(settings)))
             for kind, settings in network.specs if kind != "dropout"]
    for index, (held, made) in enumerate(zip(stored, built, strict=False)):  # lengths: below
        if held != made:
            raise cli.UsageError(
                f"argument --load: layer {index} of {str(path)!r} is {held[0]} "
                f"{cli.shown(json.dumps(held[1]))}, but the settings build {made[0]} "
                f"{cli.shown(json.dumps(made[1]))}")
    if len(stored) != len(built):
        raise cli.UsageError(f"argument --load: {str(path)!r} holds {len(stored)} layers "
                             f"(dropout aside), but the settings build {len(built)}")


def resume(saved, trainee, config, dataset):
    """Put a saved run into ``trainee`` and return the epoch it had reached.

    The same optimizer goes on with its saved state and step count, and the
    random streams where they were: training continues exactly as one run
    straight through would have. Another optimizer starts fresh, and says so.
    """
    check_layers(saved, trainee.network, config["load"])
    same_optimizer = (saved.header["optimizer"] is not None
                      and saved.header["optimizer"]["name"] == config["optimizer"])
    checkpoint.restore(saved, trainee.network, trainee.optimizer if same_optimizer else None,
                       trainee.rngs)
    state = saved.header["early_stopping"]
    if trainee.early is not None and state is not None:
        # --patience goes on counting from the saved run's best evaluation.
        trainee.early.best_row, trainee.early.waited = state["best_row"], state["waited"]
        trainee.early.best = {name: array.astype(config["dtype"])
                              for name, array in saved.best.items()}
    elif trainee.early is not None:
        # No --patience record in the file (one saved by early stopping, or without
        # --patience): the weights loaded are the first evaluation to beat, so that
        # stopping never puts back weights worse than those.
        trainee.early.remember(evaluation_row(trainee.network, trainee.optimizer, dataset,
                                              saved.epoch), trainee.network)
    log.info("loaded %s: a %s network trained for %d epochs", config["load"],
             trainee.network.describe(), saved.epoch)
    if saved.header["optimizer"] is None:
        log.info("the checkpoint holds no optimizer state: a fresh %s starts",
                 config["optimizer"])
    elif not same_optimizer:
        log.warning("the saved run used %s: a fresh %s starts, with no state",
                    saved.header["optimizer"]["name"], config["optimizer"])
    return saved.epoch


def run_one(config, dataset, trainee, start, stop, prefix=""):
    """Train one network and write its outputs; returns its ``Outcome``."""
    with stop.training():
        result, seconds, snapshots = train_one(config, dataset, trainee, start, stop, prefix)
        # The network as it is returned: after early stopping, that of the best epoch.
        epoch = result.final["epoch"] if result.status == EARLY_STOPPED else result.epochs_done
        final = evaluation_row(trainee.network, trainee.optimizer, dataset, epoch)
        if result.epochs_done > start and result.status in (COMPLETED, EARLY_STOPPED):
            _diverged_at_the_end(result, final, trainee.network, prefix)
    with stop.writing():
        written, failed = write_outputs(config, result, final, dataset, trainee, snapshots)
    return Outcome(config["optimizer"], result, final, seconds, written,
                   failed + bool(trainee.failed))


def _diverged_at_the_end(result, final, network, prefix):
    """Mark as diverged a run whose trained network evaluates to NaN or infinity.

    The training loop sees the loss of each step's forward pass, before the
    step's update: weights finite but huge (a weight decay of 1e6, say) can
    make only the last evaluation overflow.
    """
    if all(np.isfinite(final[key]) for key in ("loss", "val_loss")):
        return
    with np.errstate(over="ignore"):
        largest = max(float(np.abs(array).max()) for _, array in network.parameters())
    result.status = DIVERGED
    result.message = (f"training diverged by epoch {result.epochs_done}: the trained network's "
                      f"loss is not finite (its largest weight is {largest:.3g}); try a lower "
                      "--learning-rate (or --weight-decay)")
    log.warning(prefix + result.message)


def train_one(config, dataset, trainee, start, stop, prefix=""):
    """Train one network; returns (train.Result, seconds, parameter snapshots)."""
    network, optimizer = trainee.network, trainee.optimizer
    last_epoch = start + config["epochs"]
    snapshots = [] if config["animate"] is not None else None

    def on_log(row, _network):
        log.info(prefix + format_row(row, last_epoch))
        for name, stats in zip(network.trainable_names(), row.get("layers", ()), strict=False):
            log.debug("  %s  |W| %.4g  |dW| %.4g  |update|/|W| %.3g", name,
                      stats["weight_norm"], stats["grad_norm"], stats["update_ratio"])
        if snapshots is not None:
            snapshots.append([array.copy() for _, array in network.parameters()])

    def on_epoch(epoch):
        every = config["checkpoint_every"]
        if every and epoch % every == 0 and epoch != last_epoch:
            with stop.writing():
                try:
                    save_checkpoint(config, dataset, trainee, epoch, metrics=None)
                except outputs.OutputError as error:
                    # Training goes on and the other outputs are written; the run ends in 3.
                    if not trainee.failed:
                        print(f"main.py: error: {error} (at epoch {epoch}; training goes on)",
                              file=sys.stderr)
                    trainee.failed += 1

    started = time.perf_counter()
    result = train(network, optimizer, dataset.x_train, dataset.y_train, dataset.x_val,
                   dataset.y_val, epochs=config["epochs"], log_every=config["log_every"],
                   batch_size=config["batch_size"], rng=trainee.rngs["shuffle"],
                   on_log=on_log, on_epoch=on_epoch,
                   layer_stats=log.isEnabledFor(logging.DEBUG), start=start,
                   patience=config["patience"], min_delta=config["min_delta"], stop=stop,
                   early_stopping=trainee.early)
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


def save_checkpoint(config, dataset, trainee, epoch, metrics, resumable=True):
    """Write the checkpoint of ``config["save"]``; the optimizer and random streams too
    when the run can go on exactly from it."""
    network = trainee.network

    def produce(path):
        # Through an open file: given a path, numpy.savez would add ".npz" to any other name.
        with open(path, "wb") as file:
            checkpoint.write(file, network, loss=config["loss"], epoch=epoch,
                             config=jsonable(config), metrics=metrics,
                             optimizer=trainee.optimizer if resumable else None,
                             optimizer_name=config["optimizer"],
                             rngs=trainee.rngs if resumable else None, scaler=dataset.scaler,
                             classes=dataset.class_names, image_shape=dataset.image_shape,
                             features=getattr(dataset, "feature_names", None),
                             early_stopping=_early_state(trainee) if resumable else None)

    return outputs.write(config["save"], produce)


def _early_state(trainee):
    """What a checkpoint keeps of --patience: the best evaluation, its arrays, the count."""
    early = trainee.early
    if early is None or early.best_row is None:
        return None
    return dict(waited=early.waited, best_row=early.best_row, best=early.best)


def write_outputs(config, result, final, dataset, trainee, snapshots):
    """Checkpoint first, then metrics, figure, configuration and animation, as asked.

    A failure is one line on standard error naming the file; the other
    outputs are still written. Returns (the paths written, the count failed).
    """
    network = trainee.network
    names = columns(network.head)
    written, failed = [], 0
    jobs = []
    if config["save"] is not None and result.status == DIVERGED:
        log.warning("not saving %s: %s", config["save"],
                    "the weights are not finite" if not network.is_finite()
                    else "the trained network's loss is not finite")
    elif config["save"] is not None:
        # After early stopping the weights are those of an earlier epoch than the
        # optimizer's state and the random streams: going on starts those afresh.
        resumable = result.status != EARLY_STOPPED
        jobs.append((config["save"], lambda: save_checkpoint(
            config, dataset, trainee, final["epoch"], record(final, names), resumable)))
    if config["metrics"] is not None:
        jobs.append((config["metrics"], lambda: outputs.write(
            config["metrics"], lambda path: write_metrics(result.rows, path, names,
                                                          config=jsonable(config)))))
    if config["plot"] is not None:
        title = (f"{config['optimizer']}: {result.epochs_done} epochs, "
                 f"validation accuracy {final['val_accuracy']:.3f}")
        jobs.append((config["plot"], lambda: outputs.write(
            config["plot"], lambda path: plots.plot_training(
                result.rows, network, dataset, path, title=title, show=config["show"],
                restored=final["epoch"] if result.status == EARLY_STOPPED else None))))
    if config_file(config) is not None:
        jobs.append((config_file(config), lambda: outputs.write(
            config_file(config),
            lambda path: path.write_text(json.dumps(jsonable(config), indent=1) + "\n"))))
    if config["animate"] is not None:
        jobs.append((config["animate"], lambda: outputs.write(
            config["animate"], lambda path: plots.animate_training(
                result.rows, snapshots, network, dataset, path, title=config["optimizer"]))))
    for path, job in jobs:
        try:
            job()
            written.append(path)
        except outputs.OutputError as error:
            print(f"main.py: error: {error}", file=sys.stderr)
            failed += 1
    return written, failed


def _config_path(plot):
    return plot.with_suffix(".config.json")


def config_file(config):
    """Where the run's configuration is written: beside its figure, or where a sweep put
    it (``config_file``, for runs that draw no figure of their own); None for neither."""
    if config.get("config_file") is not None:
        return config["config_file"]
    return None if config["plot"] is None else _config_path(config["plot"])


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


def report_gradient_check(network, dataset, sample=None):
    """Print the gradient check of the network; True when every error is below 1e-5."""
    x, y = dataset.x_train, dataset.y_train

    def progress(done, total, seconds):
        left = seconds / done * (total - done) if done else float("nan")
        log.warning("gradient check: %d of %d entries in %.0f s, about %.0f s left",
                    done, total, seconds, left)

    left_out, results = check_network(network, x, y, sample=sample, progress=progress)
    what = "every entry" if sample is None else f"up to {sample} random entries per array"
    print("gradient check: backpropagation against central differences "
          f"(float64, h = 1e-5, dropout masks fixed), {what}, on "
          f"{min(len(y), 100) - left_out} samples ({left_out} left out: they sit on a "
          "ReLU kink)")
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


def _own_config(config, name):
    """The configuration of optimizer ``name``'s run within ``--optimizer all``."""
    return dict(config, optimizer=name,
                hyperparameters=cli.optimizer_defaults(name, config["dataset"]),
                **{key: _suffixed(config[key], name)
                   for key in ("metrics", "plot", "animate", "save")})


def exit_status(outcomes, stop):
    """The run's exit status: a signal's first (even one noted while writing the outputs),
    then divergence, then a failed output."""
    statuses = {outcome.result.status for outcome in outcomes}
    if stop.cause is not None:  # stopped, or asked to while the outputs were written
        return interrupts.EXIT_STATUS[stop.cause]
    if INTERRUPTED in statuses:  # a KeyboardInterrupt that no signal handler saw
        return interrupts.EXIT_STATUS["SIGINT"]
    if DIVERGED in statuses:
        return cli.EXIT_FAILED
    return EXIT_OUTPUTS if any(outcome.failed for outcome in outcomes) else cli.EXIT_OK


def predict(config, saved):
    """Print the saved network's prediction for each input of ``--predict``; exit status."""
    architecture = saved.architecture
    head = registry.build(registry.HEADS[architecture["loss"]])
    image_shape = saved.header["image_shape"]
    network = build(architecture["n_inputs"], architecture["hidden"], architecture["outputs"],
                    head, dtype=saved.dtype, activation=architecture["activation"] or "relu",
                    conv=architecture["conv"], kernel=architecture["kernel"] or 3,
                    norm=architecture["norm"],
                    image_shape=(1, *image_shape) if architecture["conv"] else None)
    check_layers(saved, network, config.get("load"))
    checkpoint.restore(saved, network)
    names, x = data.prediction_inputs(config["predict"], architecture["n_inputs"],
                                      None if image_shape is None else tuple(image_shape),
                                      header=config.get("header", cli.DEFAULTS["header"]),
                                      feature_names=saved.header["features"],
                                      scaler=saved.scaler, dtype=saved.dtype)
    # An input finite in float64 can overflow the network's float32, or its
    # layers: refused by name rather than answered with NaN.
    with np.errstate(over="ignore", invalid="ignore"):
        results = _outputs_in_steps(network, x)
    finite = np.isfinite(results).all(axis=1)
    if not finite.all():
        name = names[int(np.argmin(finite))]
        raise data.DataError(f"{data.quoted(name)} has values too large for the network "
                             f"({saved.dtype.name}): its output is not finite")
    classes = saved.header["classes"]
    # A file's name may hold anything: no terminal escape reaches the screen. The
    # names are made one at a time: a list of a million rows' names would be large.
    width = max(len(_printable(name)) for name in names)
    for name, output in zip(names, results, strict=True):
        print(f"{_printable(name):{width}}  {_answer(head, output, classes)}")
    return cli.EXIT_OK


# Inputs answered at once by --predict: a million rows through a 64-wide layer at
# once would take 256 MB per layer; this many take a few megabytes.
PREDICT_ROWS = 4096


def _outputs_in_steps(network, x):
    """``network.outputs(x)``, PREDICT_ROWS rows at a time (each row's answer is its own)."""
    steps = [network.outputs(x[k:k + PREDICT_ROWS]) for k in range(0, len(x), PREDICT_ROWS)]
    return np.concatenate(steps) if len(steps) > 1 else steps[0]


def _answer(head, output, classes):
    """One input's prediction in words: its class and probability, or its value."""
    if head.task == "regression":
        return " ".join(f"{value:.6g}" for value in output)
    if head.task == "binary":
        index = int(output[0] > 0.5)
        probability = output[0] if index else 1 - output[0]
    else:
        index = int(np.argmax(output))
        probability = output[index]
    label = _printable(classes[index] if classes else str(index))
    return f"{label}  (probability {probability:.3f})"


def _printable(text):
    """A name from a file as it is when printable, else as Python writes it: no terminal
    escape reaches the screen."""
    return text if text.isprintable() else repr(text)


def format_row(row, epochs):
    r2 = (f"  r2 {row['r2']:.4f}", f"  val_r2 {row['val_r2']:.4f}") if "r2" in row else ("", "")
    return (f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  "
            f"loss {row['loss']:.4f} (data {row['data_loss']:.4f} + reg {row['reg_loss']:.4f})  "
            f"acc {row['accuracy']:.3f}{r2[0]}  lr {row['learning_rate']:.6g}  "
            f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.3f}{r2[1]}")


def jsonable(config):
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in config.items()}
