"""Progress of an epoch: a tqdm bar where someone watches (a terminal, a notebook through
tqdm.auto), else one plain log line every PLAIN_EVERY_S seconds, so a log file of nohup or
SLURM gets readable lines instead of carriage-return updates."""
import sys
import time

from absl import logging

PLAIN_EVERY_S = 30.0


def in_notebook():
    """Whether this process is a running Jupyter kernel: not merely one that imported ipykernel
    (a library may, e.g. a notebook runner, whose own process watches no cell's output)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def epoch_bar(total, initial, desc):
    if sys.stderr.isatty() or in_notebook():
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc, unit="step", leave=False,
                    dynamic_ncols=True, mininterval=0.5)
    return PlainProgress(total, initial, desc)


class PlainProgress:
    """tqdm's update / set_postfix / close, written as a log line at most every `every_s`."""

    def __init__(self, total, initial, desc, every_s=PLAIN_EVERY_S, clock=time.monotonic):
        self.total, self.n, self.desc, self.every_s, self.clock = total, initial, desc, every_s, clock
        self.started, self.first, self.postfix = clock(), initial, {}
        self.last_line = self.started

    def update(self, n):
        self.n += n
        now = self.clock()
        if now - self.last_line >= self.every_s:
            self.last_line = now
            logging.info("%s", self.line(now))

    def set_postfix(self, values):
        self.postfix = dict(values)

    def line(self, now):
        rate = (self.n - self.first) / max(now - self.started, 1e-9)
        figures = "".join(f", {k}={v}" for k, v in self.postfix.items())
        return (f"{self.desc}: {self.n}/{self.total} steps ({100 * self.n / max(self.total, 1):.0f}%), "
                f"{rate:.1f} steps/s{figures}")

    def close(self):
        pass
