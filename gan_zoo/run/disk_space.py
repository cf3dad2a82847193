"""A full disk (ENOSPC, or a quota: EDQUOT) turned into one clear error that names the file,
the free space left on its filesystem and how to go on.

Python raises OSError with the errno; TensorFlow's writers (checkpoints, TensorBoard, SavedModel,
tf.io.write_file) raise an OpError, most often ResourceExhaustedError, whose message ends in
"No space left on device". Both are recognised here; everything else passes through.
"""
import contextlib
import errno
import os
import re
import shutil

import tensorflow as tf

from gan_zoo.errors import UserError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


class DiskFull(UserError):
    """The disk filled while a run or an export was writing (exit code 1, not a usage error)."""
    exit_code = 1


@contextlib.contextmanager
def naming(path):
    """An OSError inside names `path` when it names no file (a failed flush or fsync does not)."""
    try:
        yield
    except OSError as error:
        if not error.filename:
            error.filename = path
        raise


def is_disk_full(error):
    if isinstance(error, OSError) and error.errno in FULL_ERRNOS:
        return True
    return isinstance(error, tf.errors.OpError) and any(t in str(error) for t in FULL_TEXTS)


def failed_path(error, fallback):
    """The file the error was writing, when it says; else `fallback`."""
    if isinstance(error, OSError) and error.filename:
        return os.fsdecode(error.filename)
    found = re.search(r"(/[^\s;:,'\"]+)[;:,]?\s*(?:" + "|".join(FULL_TEXTS) + ")", str(error))
    if not found:
        return fallback
    # TensorFlow writes a checkpoint into PREFIX_temp/part-...tempstate123: name PREFIX
    return re.sub(r"_temp/[^/]*$", "", found.group(1))


def free_space(path):
    """A short 'N MiB free of M MiB' for the filesystem holding `path` (its nearest existing
    folder), or '' when it cannot be read."""
    folder = os.path.realpath(path)
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return ""
    return f"{_size(usage.free)} free of {_size(usage.total)} on the filesystem of {folder}"


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


@contextlib.contextmanager
def reported(fallback_path, then):
    """Raise DiskFull, naming the file, the free space and `then()` (what is intact and how to
    go on), when the disk fills inside the block."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as error:
        if not is_disk_full(error):
            raise
        path = failed_path(error, fallback_path)
        raise DiskFull(f"No space left on device while writing {path} ({free_space(path)}). "
                       f"{then()}") from error
