import operator
import os
import signal

import psutil
import pytest

from mvclr.data import executors, media
from mvclr.data.supervise import Crashed, Supervised, TimedOut


def test_a_hanging_call_is_killed_and_the_next_runs_in_a_fresh_process():
    with Supervised(os.kill, 2.0) as call:
        call(os.getpid(), 0)                      # starts the child; signal 0 does nothing
        child = call.process.pid
        with pytest.raises(TimedOut) as e:
            call(child, signal.SIGSTOP)            # the child stops itself: it hangs for good
        assert e.value.reason == media.TIMED_OUT and "2.0 s" in e.value.detail
        assert not psutil.pid_exists(child)       # killed and reaped, not leaked
        call(os.getpid(), 0)
        assert call.process.pid != child
        with pytest.raises(Crashed) as e:
            call(call.process.pid, signal.SIGKILL)
        assert e.value.reason == media.DECODE_FAILED and "signal 9" in e.value.detail
        with pytest.raises(ProcessLookupError):    # an exception of the function itself
            call(2 ** 22 + 7, 0)
        last = call.process.pid
    assert not psutil.pid_exists(last)


def test_media_errors_cross_the_process_boundary(tmp_path):
    with Supervised(media.probe, 60) as probe:
        with pytest.raises(media.MediaError) as e:
            probe(tmp_path / "nowhere.mp4")
    assert e.value.reason == media.MISSING and "nowhere.mp4" in str(e.value)


def test_local_executor_runs_every_unit_once():
    one = sorted((u, r) for u, r, _ in executors.local(operator.mul, [1, 2, 3, 4], 10, workers=1))
    two = sorted((u, r) for u, r, _ in executors.local(operator.mul, [1, 2, 3, 4], 10, workers=2))
    assert one == two == [(1, 10), (2, 20), (3, 30), (4, 40)]


def test_a_unit_that_kills_its_worker_is_given_up():
    got = list(executors.local(os._exit, [3], workers=2))    # the worker process dies each time
    assert got == [(3, None, f"its worker process died {executors.ATTEMPTS} times")]
