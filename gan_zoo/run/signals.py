"""SIGINT / SIGTERM as a request to stop cleanly, which the epoch loop honours."""
import signal
import threading

from absl import logging


class StopOnSignal:
    """Turns the first SIGINT / SIGTERM into a request the epoch loop honours at the next
    steps_per_call boundary (a second one kills as usual). Only the main thread can install
    handlers; elsewhere (a notebook's worker thread) it asks for nothing."""

    def __enter__(self):
        self.signal_name, self._previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        logging.warning("%s: saving a checkpoint after the current steps, then stopping "
                        "(send it again to stop at once).", self.signal_name)

    def requested(self):
        return self.signal_name is not None

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
