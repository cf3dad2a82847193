"""What a folder scan found, remembered: each file's size and time with its image size and
channels (or why it is unreadable), so a resumed or repeated run decodes only the files that
changed. One JSON file per folder under the data cache (--data_cache_dir), written whole."""
import hashlib
import json
import os
import tempfile

VERSION = 1


def path_for(root, cache_dir=""):
    """The manifest of image folder `root`."""
    from gan_zoo.data import disk_cache
    key = hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:24]
    return os.path.join(cache_dir or disk_cache.default_root(), "scans", key + ".json")


def _signature(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_mtime_ns, stat.st_size]


def read(manifest):
    """{path: _inspect's answer} of the files unchanged since `manifest` was written."""
    if not manifest or not os.path.exists(manifest):
        return {}
    try:
        with open(manifest) as fh:
            saved = json.load(fh)
        files = saved["files"] if saved.get("version") == VERSION else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # damaged: scanned afresh and rewritten
    known = {}
    for path, (mtime, size, shape, detail) in files.items():
        if _signature(path) == [mtime, size]:
            known[path] = (tuple(shape), detail) if shape else (None, detail)
    return known


def write(manifest, paths, found, known):
    """Record `found` (each path's answer) when anything was not `known` already."""
    if not manifest or all(path in known for path in paths):
        return
    files = {}
    for path, (shape, detail) in zip(paths, found):
        signature = _signature(path)
        if signature:
            files[path] = [*signature, list(shape) if shape else None, detail]
    try:
        os.makedirs(os.path.dirname(manifest), exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(manifest), suffix=".partial")
        with os.fdopen(handle, "w") as fh:
            json.dump({"version": VERSION, "files": files}, fh)
        os.replace(partial, manifest)
    except OSError:
        pass  # a read-only or full cache: the next run scans again, nothing is lost
