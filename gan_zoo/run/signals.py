"""SIGINT / SIGTERM as a request to stop cleanly: from a command's first moment, not only once
the epoch loop runs, so a pre-empted job always says how it stopped.

Before training writes anything (TensorFlow's import, loading the data) a signal stops the
command at once (StoppedBeforeTraining). While the run dir is being set up (`writing()`: the
resume, the step-0 checkpoint) it is held until that is done; the epoch loop (StopOnSignal) then
saves and stops at once. During the epochs it stops at the next steps_per_call boundary.
"""
import contextlib
import signal
import threading

from absl import logging

from gan_zoo.errors import StoppedBeforeTraining

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_held = []  # signals that arrived inside writing(), for the epoch loop to honour
_writing = [0]


def stop_early_on_signal():
    """Install the start-up handler (a command's first step; main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, _early)


def _early(signum, frame):
    name = signal.Signals(signum).name
    if not _writing[0]:
        raise StoppedBeforeTraining(name)
    if not _held:
        logging.warning("%s: stopping as soon as the run dir is set up (send it again to stop "
                        "at once).", name)
    else:  # a second one kills as usual
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    _held.append(name)


@contextlib.contextmanager
def writing():
    """Within: a start-up signal is held, not raised, so no file is left half-written."""
    _writing[0] += 1
    try:
        yield
    finally:
        _writing[0] -= 1


class StopOnSignal:
    """Turns the first SIGINT / SIGTERM into a request the epoch loop honours at the next
    steps_per_call boundary (a second one kills as usual); one held during the set-up is a
    request from the start. Only the main thread can install handlers; elsewhere (a notebook's
    worker thread) it asks for nothing."""

    def __enter__(self):
        self.signal_name, self._previous = (_held[0] if _held else None), {}
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL)
                      if self._previous.get(signum) is not _early else signal.SIG_DFL)
        logging.warning("%s: saving a checkpoint after the current steps, then stopping "
                        "(send it again to stop at once).", self.signal_name)

    def requested(self):
        return self.signal_name is not None

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        _held.clear()
        return False
