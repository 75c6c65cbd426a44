"""Train a small neural network from the command line.

    python main.py --optimizer adam --log-level DEBUG

The entry point: ``cli.py`` parses and resolves the flags, ``experiment.py``
runs them; here only logging is set up. Exit status: 0 done, 1 training
diverged or the gradient check failed, 2 bad input, 130 interrupted by Ctrl-C.
"""

import logging
import sys

import cli
import interrupts

# Loggers of this program's modules; other libraries only show their warnings.
OWN_LOGGERS = {"main", "experiment", "data", "model", "train", "metrics", "plots",
               "checkpoint", "gradcheck", "explain", "interrupts"}


def main(argv=None):
    """Run with the flags in ``argv`` (default: the command line); returns the exit status."""
    try:
        args = cli.parse(argv)
    except SystemExit as done:  # --help, --version, or a bad flag already reported
        return done.code
    # Imported only now, so that --help and a bad flag never wait for NumPy.
    import experiment

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(lambda record: record.levelno >= logging.WARNING
                      or record.name.split(".")[0] in OWN_LOGGERS)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s",
                                           datefmt="%H:%M:%S"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(args.log_level or cli.DEFAULTS["log_level"])
    try:
        with interrupts.Stop() as stop:
            return experiment.run(args, stop)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())
