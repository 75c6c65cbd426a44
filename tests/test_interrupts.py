import logging
import os
import signal

import pytest

from program.interrupts import EXIT_STATUS, Stop, Stopped


def test_first_request_asks_for_the_end_of_the_epoch_second_for_the_end_of_the_batch():
    stop = Stop()
    assert not stop.requested and not stop.now and stop.cause is None
    stop.request("SIGINT")
    assert stop.requested and not stop.now and stop.cause == "SIGINT"
    stop.request("SIGTERM")
    assert stop.now and stop.cause == "SIGINT"  # the first cause is the one reported


def test_while_writing_requests_are_only_noted():
    stop = Stop()
    with stop.writing():
        stop.request("SIGTERM")
        stop.request("SIGTERM")
    assert stop.requested and not stop.now and stop.cause == "SIGTERM"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_while_training_a_signal_reaches_the_flag_and_handlers_are_put_back(signum):
    before = signal.getsignal(signum)
    with Stop() as stop, stop.training():
        os.kill(os.getpid(), signum)
        assert stop.requested and stop.cause == signal.Signals(signum).name
    assert signal.getsignal(signum) == before


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_outside_training_and_writing_a_signal_stops_at_once(signum):
    with Stop() as stop:
        with pytest.raises(Stopped) as stopped:
            os.kill(os.getpid(), signum)
        assert stopped.value.cause == stop.cause == signal.Signals(signum).name
        with stop.training():
            with stop.writing():
                os.kill(os.getpid(), signum)  # noted: the outputs are being written
            assert not stop.now


def test_exit_statuses_are_128_plus_the_signal():
    assert EXIT_STATUS == {"SIGHUP": 128 + signal.SIGHUP, "SIGINT": 128 + signal.SIGINT,
                           "SIGPIPE": 128 + signal.SIGPIPE, "SIGTERM": 128 + signal.SIGTERM}


def test_stopped_carries_its_cause_as_its_message():
    stopped = Stopped("SIGTERM")
    assert stopped.cause == "SIGTERM" and stopped.args == ("SIGTERM",)
    assert str(stopped) == "SIGTERM"


def _warnings(caplog):
    return [(record.levelno, record.getMessage()) for record in caplog.records
            if record.name == "program.interrupts"]


def test_a_signal_while_training_is_announced_once(caplog):
    stop = Stop()
    with stop.training():
        stop.request("SIGTERM")
        stop.request("SIGINT")
    assert _warnings(caplog) == [
        (logging.WARNING, "SIGTERM: stopping after this epoch (again to stop after this batch)")]


def test_a_signal_while_writing_is_announced_once(caplog):
    stop = Stop()
    with stop.writing():
        stop.request("SIGINT")
        stop.request("SIGTERM")
    assert _warnings(caplog) == [(logging.WARNING, "SIGINT: finishing the outputs first")]


@pytest.mark.parametrize("mode", ["training", "writing"])
def test_a_closed_pipe_stops_quietly(caplog, mode):
    stop = Stop()
    with getattr(stop, mode)():
        stop.request("SIGPIPE")
    assert stop.requested and stop.cause == "SIGPIPE"
    assert _warnings(caplog) == []


def test_the_handlers_before_are_put_back_even_one_not_set_from_python(monkeypatch):
    # signal.signal answers None for a handler that was set from C: SIG_DFL is put back then.
    calls = []

    def recording(signum, handler):
        calls.append((signum, handler))
        return None

    monkeypatch.setattr(signal, "signal", recording)
    with Stop() as stop:
        pass
    caught = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
    assert calls[3:] == [(signum, signal.SIG_DFL) for signum in caught]
    assert calls[:3] == [(signum, stop._handle) for signum in caught]


def test_a_stop_can_be_entered_again_and_lets_exceptions_through():
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a background job, else Python's
    stop = Stop()
    for _ in range(2):
        with pytest.raises(KeyError):
            with stop:
                raise KeyError("not swallowed")
        assert signal.getsignal(signal.SIGINT) == before


def test_a_new_stop_has_nothing_requested():
    stop = Stop()
    assert stop.requested is False and stop.now is False and stop.cause is None
