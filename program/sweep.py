"""Several runs: ``--sweep``'s values and ``--optimizer all``'s optimizers.

Each run is the single run of ``experiment.py`` (``run_one``) with its own
configuration, resolved from the flags as if its values had been given
alone: the same data, network, training and outputs. ``run_many`` trains
them one after the other, or ``--jobs N`` at a time in worker processes;
a run's numbers are the same either way.

A sweep (``run``) is every combination of one or two flags' values (a
grid, the first flag's values outermost), each repeated for every seed of
a ``--sweep seed=...`` (innermost). Every run starts from the same data
and, where the network's shapes agree, the same initial weights: those of
its seed. The runs are ranked by their best validation loss (the lowest of
the logged evaluations) and drawn: the validation-loss curve of each value,
or for a grid a heatmap of the best losses. With seeds, a value's figures
are the mean over its seeds, with the lowest and highest beside them.

Ctrl-C (or SIGTERM) stops the runs in progress after their epoch, as it
stops a single run; the runs that finished are ranked and drawn, and a
line names those that did not.
"""

import contextlib
import copy
import itertools
import json
import logging
import logging.handlers
import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for

import numpy as np

from program import cli, experiment, interrupts, outputs, plots, registry
from program.train import COMPLETED, EARLY_STOPPED, INTERRUPTED

log = logging.getLogger(__name__)

# A run of a sweep that ended without a result of its own: it raised, or never started.
FAILED, NOT_RUN = "failed", "not run"

# The configuration keys that choose the data: runs that agree on them share one dataset.
DATA_KEYS = ("dataset", *cli.DATA_OPTIONS, *cli.READING, "seed", "dtype", "loss")

# The signals a worker process ignores: its parent (``Stop``) meets them and tells it.
SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
CAUSES = tuple(interrupts.EXIT_STATUS)


# ---------------------------------------------------------------------------
# Running several configurations, in this process or in N.

@dataclass
class Failed:
    """A run that raised instead of ending; ``error`` is what it raised."""

    error: BaseException

    @property
    def reason(self):
        if isinstance(self.error, MemoryError):
            return "not enough memory"
        return f"{type(self.error).__name__}: {self.error}".splitlines()[0]


def dataset_for(config, datasets):
    """The data of ``config``, loaded once per ``DATA_KEYS`` into the dict ``datasets``."""
    key = _data_key(config)
    if key not in datasets:
        datasets[key] = experiment.load_dataset(config)
    return datasets[key]


def _data_key(config):
    return json.dumps([config.get(name) for name in DATA_KEYS], default=str)


def _attempt(config, prefix, stop, datasets, keep_network):
    """Train ``config`` through the single-run code: (Outcome, network or None), or Failed."""
    try:
        dataset = dataset_for(config, datasets)
        trainee = experiment.trainee_for(config, dataset)
        outcome = experiment.run_one(config, dataset, trainee, 0, stop, prefix=prefix)
    except Exception as error:  # one run's failure is reported; the others go on
        log.debug("%sfailed", prefix, exc_info=error)
        return Failed(error)
    return outcome, (trainee.network if keep_network else None)


def run_many(tasks, stop, jobs=1, datasets=None, keep_networks=False, keep_going=True):
    """Train each ``(config, log prefix)`` of ``tasks``; one entry per task, in order.

    An entry is ``(Outcome, network)`` (the network only with
    ``keep_networks``), ``Failed`` for a run that raised, or None for a run
    that never started because a stop was asked for. ``datasets``: the data
    already loaded, by ``dataset_for``. Without ``keep_going`` a failure
    ends the runs in this process (with --jobs the others still finish).
    """
    datasets = {} if datasets is None else datasets
    if jobs > 1 and len(tasks) > 1:
        return _in_processes(tasks, stop, min(jobs, len(tasks)), keep_networks)
    entries = [None] * len(tasks)
    for index, (config, prefix) in enumerate(tasks):
        # A signal while the network is built asks for a stop, as one during training does.
        with stop.training():
            entries[index] = entry = _attempt(config, prefix, stop, datasets, keep_networks)
        failed = isinstance(entry, Failed)
        if (stop.requested or (failed and not keep_going)
                or (not failed and entry[0].result.status == INTERRUPTED)):
            break
    return entries


# What a worker process holds: the stop its parent asks for, its data.
_WORKER = {}


class _Relay(logging.handlers.QueueListener):
    """The workers' log records, handled in this process as its own would be."""

    def handle(self, record):
        logging.getLogger(record.name).handle(record)


def _registry_tables():
    """The registry's tables, parts registered at run time included, for the workers."""
    tables = {name: table for name, table in vars(registry).items()
              if name.isupper() and isinstance(table, dict)}
    for table in tables.values():
        for key, entry in table.items():
            try:
                pickle.dumps(entry)
            except (pickle.PicklingError, AttributeError, TypeError) as error:
                raise cli.UsageError(
                    f"argument --jobs: the part {key!r}, registered at run time, cannot be "
                    f"sent to another process ({error}); build it with a function defined "
                    "with def at the top of its module, not a lambda, or use --jobs 1") from None
    return tables


def check_jobs(jobs):
    """Refuse --jobs N (N > 1) where the runs cannot be sent to worker processes."""
    if jobs is not None and jobs > 1:
        _registry_tables()


def _start_worker(requests, cause, log_queue, level, tables):
    """A worker process's start: signals left to the parent, its registry, its log, its stop."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # ignored since the worker started
    for name, table in tables.items():
        getattr(registry, name).clear()
        getattr(registry, name).update(table)
    handler = logging.handlers.QueueHandler(log_queue)
    # The parent says once that it is stopping; each worker's stop would say it again.
    handler.addFilter(lambda record: record.name != interrupts.__name__)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    stop = interrupts.Stop()
    _WORKER.update(stop=stop, datasets={})
    threading.Thread(target=_follow, args=(requests, cause, stop), daemon=True).start()


def _follow(requests, cause, stop):
    """In a worker: pass on each stop its parent asks for; exit if the parent is gone."""
    parent = multiprocessing.parent_process()
    seen = 0
    while not wait_for([parent.sentinel], timeout=0.05):
        while seen < requests.value:
            seen += 1
            stop.request(CAUSES[cause.value])
    os._exit(1)  # the parent was killed outright: no worker outlives it


def _work(config, prefix, keep_network):
    """A worker's task: one run, unless a stop came before it started."""
    if _WORKER["stop"].requested:
        return None
    return _attempt(config, prefix, _WORKER["stop"], _WORKER["datasets"], keep_network)


def _in_processes(tasks, stop, jobs, keep_networks):
    """``run_many`` in ``jobs`` worker processes.

    Each worker is a fresh Python (spawn) with the BLAS threads of this
    process's environment (main.py sets one), the registry of this one and
    its log sent here. A signal reaches this process only: a stop is passed
    on to the workers, which finish their epoch and write their outputs;
    runs not started are cancelled, and every worker has ended on return.
    """
    context = multiprocessing.get_context("spawn")
    requests, cause = context.RawValue("i", 0), context.RawValue("i", 0)
    log_queue = context.Queue()
    relay = _Relay(log_queue)
    relay.start()
    executor, futures, asked = None, [], 0
    try:
        with stop.training():  # from here a signal asks for a stop, never raises
            with _signals_ignored_by_new_processes():
                executor = ProcessPoolExecutor(
                    jobs, mp_context=context, initializer=_start_worker,
                    initargs=(requests, cause, log_queue, logging.getLogger().level,
                              _registry_tables()))
                futures = [executor.submit(_work, config, prefix, keep_networks)
                           for config, prefix in tasks]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                wanted = int(stop.requested) + int(stop.now)
                if wanted > asked:
                    for future in pending:
                        future.cancel()
                    cause.value = CAUSES.index(stop.cause or "SIGINT")
                    requests.value = asked = wanted
    finally:
        if executor is not None:
            if any(not future.done() for future in futures):  # leaving on an error
                requests.value = 2
            executor.shutdown(wait=True, cancel_futures=True)
        relay.stop()
        log_queue.close()
        log_queue.join_thread()
    return [_entry(future) for future in futures]


def _entry(future):
    if future.cancelled():
        return None
    try:
        return future.result()
    except BrokenProcessPool as error:
        return Failed(error)


@contextlib.contextmanager
def _signals_ignored_by_new_processes():
    """While processes are started: they start with SIGINT, SIGTERM and SIGHUP ignored.

    Python keeps an ignored SIGINT ignored, so a Ctrl-C at the terminal,
    which reaches every process of the group, never interrupts a worker
    half-started. Meanwhile the signals wait here (blocked) and are met on
    leaving. Outside the main thread, where no handler can be set, nothing
    changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    handlers = {signum: signal.signal(signum, signal.SIG_IGN) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


# ---------------------------------------------------------------------------
# --optimizer all


def run_all(config, dataset, stop, jobs=1):
    """Every registered optimizer through the single-run code, then a comparison."""
    names = list(registry.OPTIMIZERS)
    # --show: a worker process opens no window; this one shows the comparison.
    tasks = [(dict(experiment._own_config(config, name), show=config["show"] and jobs == 1),
              f"{name:8}") for name in names]
    entries = run_many(tasks, stop, jobs, {_data_key(config): dataset}, keep_networks=True,
                       keep_going=False)
    outcomes, networks = [], {}
    for name, entry in zip(names, entries, strict=True):
        if isinstance(entry, Failed):
            raise entry.error
        if entry is not None:
            outcomes.append(entry[0])
            networks[name] = entry[1]

    written = []
    if config["plot"] is not None:
        with stop.writing():
            try:
                written.append(outputs.write(config["plot"], lambda path: plots.plot_comparison(
                    {o.name: (o.result.rows, networks[o.name]) for o in outcomes}, dataset,
                    path, show=config["show"])))
            except outputs.OutputError as error:
                print(f"main.py: error: {error}", file=sys.stderr)
                outcomes[-1].failed += 1
    print(f"{'optimizer':10} {'train acc':>9} {'train loss':>10} {'val acc':>8} "
          f"{'val loss':>8} {'seconds':>8}  status")
    for outcome in outcomes:
        final = outcome.final
        print(f"{outcome.name:10} {final['accuracy']:9.3f} {final['loss']:10.3g} "
              f"{final['val_accuracy']:8.3f} {final['val_loss']:8.3g} {outcome.seconds:8.2f}  "
              f"{outcome.result.status}")
    for path in [path for outcome in outcomes for path in outcome.written] + written:
        print(f"wrote {path}")
    return experiment.exit_status(outcomes, stop)


# ---------------------------------------------------------------------------
# --sweep


@dataclass
class Point:
    """One run of a sweep: its value of each axis (as parsed and as shown), its config."""

    values: tuple
    labels: tuple
    config: dict = None

    def text(self, axes):
        """ "learning-rate=0.005 l2=0" """
        return " ".join(f"{axis.name}={label}"
                        for axis, label in zip(axes, self.labels, strict=True))


def ordered(axes):
    """The axes in the order of the runs: as given, seed last (innermost)."""
    return [axis for axis in axes if axis.dest != "seed"] + [
        axis for axis in axes if axis.dest == "seed"]


def points(axes):
    """Every combination of the ``ordered`` axes' values, the first axis outermost."""
    return [Point(tuple(axis.values[i] for axis, i in zip(axes, indices, strict=True)),
                  tuple(axis.labels[i] for axis, i in zip(axes, indices, strict=True)))
            for indices in itertools.product(*(range(len(axis.values)) for axis in axes))]


def _flags_of(args, axes=(), values=()):
    """The parsed flags of one run: ``args`` with each axis's value given, no --sweep."""
    flags = copy.copy(args)
    flags.sweep = flags.jobs = None
    for axis, value in zip(axes, values, strict=True):
        setattr(flags, axis.dest, copy.copy(value))
    return flags


def _beside(figure, suffix, ending):
    """plots/sweep.png, "l2-0", ".config.json" -> plots/sweep-l2-0.config.json"""
    return figure.with_name(f"{figure.stem}-{suffix}{ending}")


def _run_config(config, args, figure, axes, point):
    """The configuration of one run: the run's own, its outputs named after its values.

    No figure of its own (the sweep draws one for all); its metrics go to
    --metrics with the values as a suffix (as --optimizer all names its
    runs' files), else beside the sweep's figure, and so does its
    configuration.
    """
    suffix = "-".join(f"{axis.name}-{label}"
                      for axis, label in zip(axes, point.labels, strict=True))
    metrics = (experiment._suffixed(args.metrics, suffix) if args.metrics is not None
               else _beside(figure, suffix, ".metrics.csv") if figure is not None else None)
    return dict(config, plot=None, show=False, metrics=metrics,
                config_file=None if figure is None else _beside(figure, suffix, ".config.json"),
                save=experiment._suffixed(config["save"], suffix),
                animate=experiment._suffixed(config["animate"], suffix),
                sweep={axis.dest: value for axis, value in zip(axes, point.values, strict=True)})


def _prepared(flags, datasets):
    """Resolve the flags of one run and check its data and network, as a run would first."""
    config = cli.resolve(flags)
    dataset = dataset_for(config, datasets)
    experiment.trainee_for(config, dataset)
    return config, dataset


def _blamed(error, args, axes, runs, index, datasets):
    """The refusal of run ``index``'s flags, after its values ("--sweep l2=0: ...") when
    they are to blame: unless the flags without the sweep, and every other value, are
    refused in the same words (then no value is)."""
    where = f"--sweep {runs[index].text(axes)}"
    if index > 0:  # the values before it passed
        return f"{where}: {error}"
    for flags in [_flags_of(args), *(_flags_of(args, axes, run.values) for run in runs[1:])]:
        try:
            _prepared(flags, datasets)
        except ValueError as other:
            if str(other) == str(error):
                continue
        return f"{where}: {error}"
    return str(error)


def plan(args):
    """The runs of ``args.sweep`` (``ordered`` axes, ``Point``s with their configs), the
    sweep's figure and the data loaded; every run is checked before any trains.

    Raises ValueError (cli.UsageError) naming the flag, and the sweep's
    value when the value is to blame.
    """
    axes = ordered(args.sweep)
    datasets, planned, figure, warnings = {}, {}, None, []
    runs = points(axes)
    for index, point in enumerate(runs):
        try:
            config, dataset = _prepared(_flags_of(args, axes, point.values), datasets)
        except ValueError as error:
            raise cli.UsageError(_blamed(error, args, axes, runs, index, datasets)) from None
        if figure is None and not args.no_plot:
            figure = args.plot or cli.default_plot(config, "sweep")
        point.config = _run_config(config, args, figure, axes, point)
        experiment._check_inputs_are_not_outputs(point.config)
        for flag, output in experiment.planned_outputs(point.config).items():
            if flag == "--metrics" and args.metrics is None:
                flag = "--plot"  # the run's metrics file is named after the figure
            planned[f"{flag} ({point.text(axes)})"] = output
        warning = experiment.warmup_warning(point.config, dataset)
        if warning and warning not in warnings:
            warnings.append(warning)
    if figure is not None:
        experiment._check_inputs_are_not_outputs(dict(runs[0].config, plot=figure))
        planned["--plot"] = (figure, "figure")
    outputs.check(planned)
    check_jobs(args.jobs)
    return axes, runs, figure, datasets, warnings


def run(args, stop):
    """Run ``args.sweep`` and report it; returns the exit status."""
    try:
        axes, runs, figure, datasets, warnings = plan(args)
    except ValueError as error:
        return experiment._usage_error(str(error))
    for warning in warnings:
        log.warning(warning)
    jobs = min(args.jobs or 1, len(runs))
    log.info("sweep of %s: %d runs%s", ", ".join(axis.name for axis in axes), len(runs),
             f", {jobs} at a time" if jobs > 1 else "")
    width = max(len(point.text(axes)) for point in runs)
    tasks = [(point.config, f"{point.text(axes):{width}}  ") for point in runs]
    started = time.perf_counter()
    entries = run_many(tasks, stop, args.jobs or 1, datasets)
    seconds = time.perf_counter() - started
    results = [result_of(entry) for entry in entries]
    grid = [axis for axis in axes if axis.dest != "seed"]
    seeds = next((axis for axis in axes if axis.dest == "seed"), None)
    cells = cells_of(results, runs, grid, seeds)

    written, figure_failed = [], False
    drawn = figure is not None and any(cell.finished for cell in cells)
    if drawn:
        with stop.writing():
            try:
                written.append(outputs.write(figure, lambda path: draw(
                    cells, grid, seeds, path, show=args.show)))
            except outputs.OutputError as error:
                print(f"main.py: error: {error}", file=sys.stderr)
                figure_failed = True
    for line in report(cells, grid, seeds, results, runs, axes, seconds, jobs):
        print(line)
    for path in [path for entry in entries if isinstance(entry, tuple)
                 for path in entry[0].written] + written:
        print(f"wrote {path}")
    if figure is not None and not drawn:
        print(f"no run finished: {figure} not drawn")
    outcomes = [entry[0] for entry in entries if isinstance(entry, tuple)]
    status = experiment.exit_status(outcomes, stop)
    if status in (cli.EXIT_OK, experiment.EXIT_OUTPUTS) and any(
            isinstance(entry, Failed) for entry in entries):
        return cli.EXIT_FAILED
    if status == cli.EXIT_OK and figure_failed:
        return experiment.EXIT_OUTPUTS
    return status


# ---------------------------------------------------------------------------
# What the runs came to: ranking, table and figure.


@dataclass
class Result:
    """What one run of a sweep came to."""

    status: str          # train's status (completed, ...), FAILED or NOT_RUN
    rows: list           # its logged evaluations
    final: dict = None   # its returned network evaluated (Outcome.final)
    reason: str = ""     # why it has no place in the ranking: diverged, failed, not finished

    @property
    def finished(self):
        return self.status not in (INTERRUPTED, NOT_RUN)

    @property
    def ranked(self):
        return self.status in (COMPLETED, EARLY_STOPPED) and math.isfinite(best_of(self.rows)[0])


def result_of(entry):
    """The ``Result`` of a ``run_many`` entry."""
    if entry is None:
        return Result(NOT_RUN, [], reason="not started")
    if isinstance(entry, Failed):
        return Result(FAILED, [], reason=f"failed: {entry.reason}")
    result = entry[0].result
    reason = "" if result.status in (COMPLETED, EARLY_STOPPED) else (
        result.message.split(":")[0] if result.message else result.status)
    if not reason and not math.isfinite(best_of(result.rows)[0]):
        reason = "no finite validation loss"
    return Result(result.status, result.rows, entry[0].final, reason)


def best_of(rows):
    """(the lowest finite validation loss of ``rows``, its epoch), the first of equal
    lows; (nan, None) when there is none."""
    finite = [row for row in rows if math.isfinite(row["val_loss"])]
    if not finite:
        return math.nan, None
    best = min(finite, key=lambda row: row["val_loss"])
    return best["val_loss"], best["epoch"]


def score_of(final):
    """The final figure a run is known by besides its loss: R² for a regression, else the
    accuracy (both on the validation data)."""
    return final["val_r2"] if "val_r2" in final else final["val_accuracy"]


@dataclass
class Cell:
    """One value of the swept flag (or pair of values of a grid), over its seeds.

    ``results`` holds one ``Result`` per seed (one without a seed sweep).
    Its figures are the means over them: ``best`` (each run's lowest
    validation loss), ``epoch`` (where each reached it), ``final_loss`` and
    ``score`` (the returned network's validation loss and accuracy or R²);
    ``low`` and ``high`` are the lowest and highest best losses.
    """

    labels: tuple
    results: list
    seeds: tuple = ()  # the seeds' labels, one per result; () without a seed sweep

    @property
    def finished(self):
        return all(result.finished for result in self.results)

    @property
    def ranked(self):
        """Finished, and every run has a finite best: the cell has a place in the ranking."""
        return self.finished and not self.reason

    @property
    def reason(self):
        """Why the cell is not ranked ('' when it is): its first run's reason that has one."""
        for index, result in enumerate(self.results):
            if not result.ranked:
                which = f"seed {self.seeds[index]}: " if self.seeds else ""
                return which + result.reason
        return ""

    def _mean(self, values):
        return float(np.mean(values))

    @property
    def bests(self):
        return [best_of(result.rows)[0] for result in self.results]

    @property
    def best(self):
        return self._mean(self.bests)

    @property
    def low(self):
        return min(self.bests)

    @property
    def high(self):
        return max(self.bests)

    @property
    def epoch(self):
        return self._mean([best_of(result.rows)[1] for result in self.results])

    @property
    def final_loss(self):
        return self._mean([result.final["val_loss"] for result in self.results])

    @property
    def score(self):
        return self._mean([score_of(result.final) for result in self.results])

    def curve(self):
        """(epochs, mean, lowest, highest) validation loss over the seeds, at the epochs
        that every seed logged."""
        logged = [{row["epoch"]: row["val_loss"] for row in result.rows}
                  for result in self.results]
        epochs = [epoch for epoch in logged[0] if all(epoch in seed for seed in logged)]
        losses = np.array([[seed[epoch] for epoch in epochs] for seed in logged])
        return np.array(epochs), losses.mean(axis=0), losses.min(axis=0), losses.max(axis=0)


def cells_of(results, runs, grid, seeds):
    """The ``Cell``s of a sweep in grid order; ``results`` and ``runs`` in run order."""
    per_cell = len(seeds.values) if seeds is not None else 1
    return [Cell(runs[start].labels[:len(grid)], results[start:start + per_cell],
                 seeds.labels if seeds is not None else ())
            for start in range(0, len(results), per_cell)]


def ranked(cells):
    """[(rank, cell)] of the finished cells: the ranked ones by their best validation loss
    (equal losses share a rank and keep the grid's order), then the others (rank None)
    with their reason, in the grid's order."""
    order = sorted((cell for cell in cells if cell.ranked),
                   key=lambda cell: cell.best)
    ranks = []
    for index, cell in enumerate(order):
        tied = ranks and cell.best == ranks[-1][1].best
        ranks.append((ranks[-1][0] if tied else index + 1, cell))
    return ranks + [(None, cell) for cell in cells if cell.finished and cell.reason]


def table(cells, grid, seeds):
    """The ranked table's lines: rank, the values, then the figures or the reason."""
    score = "val R²" if any("val_r2" in (result.final or {}) for cell in cells
                            for result in cell.results) else "val accuracy"
    names = [axis.name for axis in grid] or ["flags"]
    header = ["rank", *names, "best val loss"]
    if seeds is not None:
        header.append(f"range over {len(seeds.values)} seeds")
    header += ["mean epoch" if seeds is not None else "epoch", "final val loss", score]
    rows = []
    for rank, cell in ranked(cells):
        start = ["-" if rank is None else str(rank), *(cell.labels or ["as given"])]
        if rank is None:
            rows.append((start, [cell.reason]))
            continue
        figures = [f"{cell.best:.4g}"]
        if seeds is not None:
            figures.append(f"[{cell.low:.4g}, {cell.high:.4g}]")
        figures += [f"{cell.epoch:.0f}", f"{cell.final_loss:.4g}", f"{cell.score:.3f}"]
        rows.append((start, figures))
    # Rank and values aligned in every row; the figures right-aligned under their headers,
    # and a reason, in the rows of runs not ranked, running on after the values.
    head, tail = header[:len(names) + 1], header[len(names) + 1:]
    widths = [max(len(row[i]) for row in [head, *(start for start, _ in rows)])
              for i in range(len(head))]
    tail_widths = [max([len(tail[i])] + [len(figures[i]) for start, figures in rows
                                         if start[0] != "-"]) for i in range(len(tail))]
    lines = []
    for start, rest in [(head, tail), *rows]:
        text = [f"{start[0]:>{widths[0]}}",
                *(f"{label:<{width}}" for label, width in zip(start[1:], widths[1:],
                                                             strict=True))]
        if start[0] == "-":
            text += rest
        else:
            text += [f"{figure:>{width}}" for figure, width in zip(rest, tail_widths,
                                                                   strict=True)]
        lines.append("  ".join(text).rstrip())
    return lines


def report(cells, grid, seeds, results, runs, axes, seconds, jobs):
    """The sweep's lines on standard output: what was ranked, the table, what did not finish."""
    every = runs[0].config["log_every"]
    logged = "every epoch" if every == 1 else f"every {every} epochs"
    how = (f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {seconds:.1f} s"
           + (f", {jobs} at a time" if jobs > 1 else "")
           + f": ranked by the best validation loss (the lowest of the evaluations logged "
             f"{logged})")
    if seeds is not None:
        how += (f"; each the mean over seeds {', '.join(seeds.labels)}, with the lowest and "
                "highest of them")
    lines = [how, *table(cells, grid, seeds)]
    unfinished = [f"{point.text(axes)} ({result.reason})"
                  for point, result in zip(runs, results, strict=True) if not result.finished]
    if unfinished:
        lines.append(f"did not finish ({len(unfinished)} of {len(runs)}): "
                     + "; ".join(unfinished))
    return lines


def draw(cells, grid, seeds, path, show=False):
    """The sweep's figure: a heatmap of the best validation losses for a grid of two
    flags, else the validation-loss curve of each value."""
    over = f" (mean over seeds {seeds.labels[0]}-{seeds.labels[-1]})" if seeds is not None else ""
    if len(grid) == 2:
        rows, columns = (len(axis.labels) for axis in grid)
        values = np.full((rows, columns), np.nan)
        notes = {}
        for index, cell in enumerate(cells):
            at = divmod(index, columns)
            if cell.ranked:
                values[at] = cell.best
                if seeds is not None:
                    notes[at] = f"{cell.low:.3g}-{cell.high:.3g}"
            else:
                notes[at] = "not finished" if not cell.finished else cell.reason.split(":")[0]
        return plots.plot_sweep_grid(values, (grid[0].name, grid[0].labels),
                                     (grid[1].name, grid[1].labels), notes, path,
                                     title=f"best validation loss{over}; the lowest in bold",
                                     show=show)
    curves = []
    for cell in cells:
        if cell.ranked:
            epochs, mean, low, high = cell.curve()
            name = f"{grid[0].name}={cell.labels[0]}" if grid else "as given"
            if seeds is None:
                curves.append((f"{name}: best {cell.best:.4g} at epoch {cell.epoch:.0f}",
                               epochs, mean, None, (cell.epoch, cell.best)))
            else:  # the mean of the seeds' bests is no point of the mean curve: no dot
                curves.append((f"{name}: best {cell.best:.4g} at epoch {cell.epoch:.0f} "
                               "(means over the seeds)", epochs, mean, (low, high), None))
    what = f"each {grid[0].name}" if grid else "the flags as given"
    left = [f"{grid[0].name}={cell.labels[0]}" for cell in cells if grid and cell.reason]
    return plots.plot_sweep_curves(
        curves, path, show=show, title=f"validation loss of {what}{over}"
        + (", shaded: lowest to highest" if seeds is not None else "")
        + (f"; not drawn: {', '.join(left)}" if left else ""))
