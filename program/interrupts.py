"""Ctrl-C, SIGTERM, SIGHUP and a closed pipe: finish cleanly, write everything, lose nothing.

``Stop`` is installed for a whole run. While training (``with
stop.training():``), the first SIGINT (Ctrl-C) or SIGTERM (what ``timeout``,
``docker stop`` and job schedulers send) asks training to stop after the
epoch in progress; a second one cuts that epoch short after its current
mini-batch (never inside an update). Once the outputs are being written
(``with stop.writing():``), signals are only noted: the files are finished
first. Anywhere else (reading data, checking gradients, predicting) a
signal stops the program at once, with nothing to save: ``Stopped`` is
raised. A closed standard output or error pipe (``main.py | head``) asks
for a stop the way a signal does, quietly.
"""

import contextlib
import logging
import signal

log = logging.getLogger(__name__)

# The exit status of a run stopped by each cause: 128 + the signal's number.
EXIT_STATUS = {"SIGHUP": 129, "SIGINT": 130, "SIGPIPE": 141, "SIGTERM": 143}


class Stopped(BaseException):
    """A signal outside training and writing: stop at once. ``cause`` names it."""

    def __init__(self, cause):
        super().__init__(cause)
        self.cause = cause


class Stop:
    """A stop request, set by signals (or ``request``) and read by the training loop.

    ``requested``: stop after this epoch; ``now``: stop after this batch;
    ``cause``: the first cause, "SIGHUP", "SIGINT", "SIGTERM" or "SIGPIPE".
    """

    def __init__(self):
        self.requested = False
        self.now = False
        self.cause = None
        self._mode = None  # None (stop at once), "training" or "writing"
        self._previous = {}

    def request(self, cause):
        """Ask for a stop; a second request while training asks for it now."""
        first = not self.requested
        self.requested = True
        self.cause = self.cause or cause
        if self._mode == "writing":
            if first and cause != "SIGPIPE":
                log.warning("%s: finishing the outputs first", cause)
        elif first:
            if cause != "SIGPIPE":
                log.warning("%s: stopping after this epoch (again to stop after this batch)",
                            cause)
        else:
            self.now = True

    def _handle(self, signum, _frame):
        cause = signal.Signals(signum).name
        if self._mode is None:
            self.cause = self.cause or cause
            raise Stopped(cause)
        self.request(cause)

    @contextlib.contextmanager
    def training(self):
        """While training: a signal asks for a stop after the epoch."""
        with self._in("training"):
            yield

    @contextlib.contextmanager
    def writing(self):
        """While writing outputs: signals are noted, never acted on."""
        with self._in("writing"):
            yield

    @contextlib.contextmanager
    def _in(self, mode):
        previous, self._mode = self._mode, mode
        try:
            yield
        finally:
            self._mode = previous

    def __enter__(self):
        # SIGHUP: the terminal closed or the SSH connection dropped; met as SIGTERM is.
        for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: signals stay as they were
                pass
        return self

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous = {}
        return False
