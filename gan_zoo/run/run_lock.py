"""One training per run dir: an OS file lock on RUN_DIR/.lock (fcntl.flock), which the kernel
releases when the process ends however it ends, so no stale lock survives a SIGKILL. The lock
file says who holds it (PID, host, since when), for the message a second run is refused with.
Readers (export, eval, plot) take no lock: they only read whole checkpoints."""
import json
import os
import socket
import time

from gan_zoo.errors import UserError

LOCK_FILE = ".lock"


class RunDirLock:
    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, LOCK_FILE)
        self.fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: no flock; two runs on one dir are not detected there
            return self
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(
                f"Run dir {os.path.dirname(self.path)!r} is in use by another training (PID "
                f"{holder.get('pid', '?')} on {holder.get('host', '?')}, since "
                f"{holder.get('since', '?')}). Wait for it to finish or stop it, or pass another "
                "--run_dir. (Export, eval and plot of a run in progress work meanwhile.)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def _read_holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}
