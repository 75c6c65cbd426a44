"""Train a small neural network from the command line.

    python main.py --optimizer adam --log-level DEBUG

The entry point: ``program/cli.py`` parses and resolves the flags,
``program/experiment.py`` runs them; here logging is set up, signals are
caught for the whole run (``program/interrupts.py``), and a closed output
pipe ends the run quietly.
Exit status: 0 done, 1 training diverged or the gradient check failed,
2 bad input, 3 an output could not be written, 130 Ctrl-C, 141 a closed
pipe, 143 SIGTERM.
"""

import contextlib
import errno
import io
import logging
import os
import sys

from program import cli, interrupts

# The environment variables the BLAS libraries NumPy may use read their thread count from.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# Loggers of this program's modules; other libraries only show their warnings.
OWN_LOGGERS = {"main", "program"}


class _LogHandler(logging.StreamHandler):
    """Log lines to standard error; if that pipe closes, stop the run instead of failing."""

    def __init__(self, stop):
        super().__init__(sys.stderr)
        self.stop = stop
        self.addFilter(lambda record: record.levelno >= logging.WARNING
                       or record.name.split(".")[0] in OWN_LOGGERS)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                                            datefmt="%H:%M:%S"))

    def emit(self, record):
        if self.stream is not None:
            super().emit(record)

    def handleError(self, record):
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            self.stream = None  # nobody reads the log any more: say nothing more
            self.stop.request("SIGPIPE")
        else:
            super().handleError(record)


def set_threads(threads):
    """BLAS threads for this process: ``--threads``, else the environment's, else one.

    BLAS reads them once, when NumPy loads; in a process that has loaded NumPy
    already (a test calling ``main``), this changes nothing. The worker
    processes of ``--jobs`` start with this environment: one thread each too.
    """
    if threads is None and any(name in os.environ for name in THREAD_VARIABLES):
        return
    if threads is not None and "numpy" in sys.modules:
        logging.getLogger("main").warning(
            "--threads %d cannot take effect: NumPy was loaded before main.main(); set "
            "OPENBLAS_NUM_THREADS before Python starts instead", threads)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads or cli.DEFAULTS["threads"])


class _ClosedOutput(io.TextIOBase):
    """Standard output when the program was started with it closed (``>&-``): writing
    to it is a closed pipe, so the run ends as it would in ``main.py | head``, with 141,
    rather than print() discarding every result and the run ending in 0."""

    def writable(self):
        return True

    def write(self, text):
        raise BrokenPipeError(errno.EBADF, "standard output is closed")


@contextlib.contextmanager
def _standard_streams():
    """Closed standard streams made explicit for the run, then put back.

    Python sets a stream closed at start to None, and print(file=None) writes
    to standard output: errors meant for a closed standard error would land
    among the answers. They go nowhere instead; the exit status still tells.
    """
    saved = sys.stdout, sys.stderr
    null = open(os.devnull, "w") if sys.stderr is None else None  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = _ClosedOutput()
    if null is not None:
        sys.stderr = null
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        if null is not None:
            null.close()


# What writing to a stream on a full or failing disk raises.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def main(argv=None):
    """Run with the flags in ``argv`` (default: the command line); returns the exit status."""
    with _standard_streams():
        return _main(argv)


def _main(argv):
    try:
        args = cli.parse(argv)
    except SystemExit as done:  # --help, --version, or a bad flag already reported
        return done.code
    set_threads(args.threads)
    # Imported only now, so that --help and a bad flag never wait for NumPy, and
    # NumPy's BLAS starts with the threads just set.
    from program import experiment

    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(args.log_level or cli.DEFAULTS["log_level"])
    with interrupts.Stop() as stop:
        handler = _LogHandler(stop)
        root.addHandler(handler)
        try:
            return experiment.run(args, stop)
        except interrupts.Stopped as stopped:  # a signal outside training: nothing to save
            print(f"main.py: stopped by {stopped.cause}", file=sys.stderr)
            return interrupts.EXIT_STATUS[stopped.cause]
        except MemoryError as error:
            print(f"main.py: error: not enough memory for this run ({error})", file=sys.stderr)
            return cli.EXIT_USAGE
        except BrokenPipeError:
            # Standard output was closed (``main.py | head``): the outputs are
            # written by then; leave quietly, without Python's own complaint at exit.
            if isinstance(sys.stdout, _ClosedOutput):  # closed from the start: say so once
                print("main.py: error: standard output is closed: the results could not be "
                      "printed", file=sys.stderr)
            else:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return interrupts.EXIT_STATUS["SIGPIPE"]
        except OSError as error:
            if error.errno not in _FULL:
                raise
            # Standard output is a full disk (``> /dev/full``): the files were written
            # by then, the results printed to it are lost; say so, exit as for an output.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            print(f"main.py: error: cannot print the results to standard output: "
                  f"{error.strerror}", file=sys.stderr)
            return experiment.EXIT_OUTPUTS
        finally:
            root.removeHandler(handler)
            root.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())
