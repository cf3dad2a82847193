"""A testing hook that kills the process at a named point, for the crash-safety tests."""
import os
import signal
import threading

_COUNTS = {}


def fault_point(name):
    """GAN_ZOO_FAULT=<name>[@<n>][:<delay s>] SIGKILLs this process the n-th time (default 1st)
    it reaches `name`, after the delay if one is given (a kill in the middle of what follows).
    GAN_ZOO_FAULT_SIGNAL=SIGTERM (or any signal's name) sends that signal instead.
    Costs nothing when unset."""
    fault = os.environ.get("GAN_ZOO_FAULT")
    if not fault:
        return
    where, _, delay = fault.partition(":")
    target, _, nth = where.partition("@")
    if target != name:
        return
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    if _COUNTS[name] != int(nth or 1):
        return
    sig = signal.Signals[os.environ.get("GAN_ZOO_FAULT_SIGNAL", "SIGKILL")]
    if delay:
        threading.Timer(float(delay), os.kill, (os.getpid(), sig)).start()
    else:
        os.kill(os.getpid(), sig)
