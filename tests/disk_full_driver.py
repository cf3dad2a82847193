"""Runs inside a private mount namespace (`unshare -rm`, see tests/test_disk_full.py) where DISK
is a size-limited tmpfs: one part of a tiny run at a time lives on DISK, which is filled to the
last page, so that part's next write fails with a real ENOSPC. Each scenario records what the
failure said, what was left, and whether the same run resumes once the space is freed, into a
JSON report outside the tmpfs (which vanishes with the namespace).

    python tests/disk_full_driver.py DISK WORK REPORT
"""
import json
import os
import sys

from conftest import tiny_faces_config
from gan_zoo.run import checkpoints, loop, run_files
from gan_zoo import data
from gan_zoo.serving import export
from gan_zoo.run.disk_space import DiskFull


def fill(disk, leave=0):
    """Leave `leave` bytes free on `disk` (rounded down to whole pages by the filesystem)."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(os.path.join(disk, "ballast"), "ab") as fh:
        os.posix_fallocate(fh.fileno(), os.fstat(fh.fileno()).st_size, max(free - leave, 0))


def free(disk):
    os.remove(os.path.join(disk, "ballast"))


def place_on(disk, run_dir, part):
    """Make RUN_DIR/part live on `disk` (a symlink; a file's target is created by the run)."""
    os.makedirs(run_dir, exist_ok=True)
    target = os.path.join(disk, part)
    if "." not in part:
        os.makedirs(target, exist_ok=True)
    os.symlink(target, os.path.join(run_dir, part))


def state(run_dir):
    loss = os.path.join(run_dir, "loss.csv")
    epochs = list(map(int, run_files.read_csv(loss)["epoch"])) if os.path.exists(loss) else []
    ckpts = [os.path.basename(p) for p in checkpoints.newest_first(os.path.join(run_dir, "checkpoints"))]
    leftovers = sorted(n for d in (os.path.join(run_dir, "checkpoints"), os.path.join(run_dir, "samples"))
                       if os.path.isdir(d) for n in os.listdir(d) if n.endswith(("_temp", ".tmp")))
    return {"epochs": epochs, "checkpoints": ckpts, "leftovers": leftovers}


def train_scenario(disk, work, part, leave):
    run_dir = os.path.join(work, part.replace(".", "_"))
    place_on(disk, run_dir, part)
    cfg = tiny_faces_config(run_dir, epochs=2, max_images=160, eval_every=0)
    fill(disk, leave)
    record = {}
    try:
        loop.train(cfg, data.for_config(cfg))
        record["error"] = None
    except DiskFull as e:
        record["error"] = str(e)
    record["after_failure"] = state(run_dir)
    free(disk)
    resumed = loop.train(cfg, data.for_config(cfg))
    record["resumed_step"] = int(resumed.step.numpy())
    record["after_resume"] = state(run_dir)
    return record, run_dir


def export_scenario(disk, run_dir):
    base = os.path.join(disk, "export")
    fill(disk, 0)
    record = {}
    try:
        export.export(run_dir, base)
        record["error"] = None
    except DiskFull as e:
        record["error"] = str(e)
    record["left"] = sorted(os.listdir(base)) if os.path.isdir(base) else []
    free(disk)
    record["exported_version"] = export.export(run_dir, base)["version"]
    record["versions"] = export.versions(base)
    return record


def main(disk, work, report_path):
    report = {}
    # a checkpoint: room for step 0's (~0.9 MB) but not for epoch 1's beside it
    report["checkpoints"], _ = train_scenario(disk, work, "checkpoints", leave=1200 * 1024)
    for part in ("loss.csv", "samples", "tb"):  # the disk full from the start
        report[part], run_dir = train_scenario(disk, work, part, leave=0)
    report["export"] = export_scenario(disk, run_dir)
    with open(report_path, "w") as fh:
        json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
