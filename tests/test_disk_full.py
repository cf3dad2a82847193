"""A full disk for real: a size-limited tmpfs in a private mount namespace (`unshare -rm`, so
no root is needed and nothing outlives the test) holds one part of a run at a time, filled to
the last page (tests/disk_full_driver.py). Each write that fails must say which file, how much
space is left, and what is intact; the run must resume once space is freed."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

TESTS = os.path.join(ROOT, "tests")


def _can_mount_a_tmpfs(tmp_path):
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {tmp_path}"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = tmp_path_factory.mktemp("disk_full")
    disk = work / "disk"
    disk.mkdir()
    if not _can_mount_a_tmpfs(disk):
        pytest.fail("this machine allows no private tmpfs mount (`unshare -rm mount -t tmpfs`): "
                    "the full-disk tests need one")
    path = work / "report.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, ROOT]))
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o size=8m tmpfs "{disk}" && exec '
         f'"{sys.executable}" "{os.path.join(TESTS, "disk_full_driver.py")}" "{disk}" "{work}" "{path}"'],
        env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    with open(path) as fh:
        return json.load(fh)


MESSAGE = r"No space left on device while writing (\S+) \(([\d.]+) (bytes|KiB|MiB) free of 8\.0 MiB on the filesystem of \S+\)"


@pytest.mark.parametrize("part,path_pattern,intact", [
    ("checkpoints", r"checkpoints/ckpt-10$", "ckpt-0"),
    ("loss.csv", r"loss\.csv$", "ckpt-0"),
    ("samples", r"samples/\.epoch_0001\.png\.tmp$", "ckpt-0"),
    ("tb", r"tb/events\.out\.tfevents", "ckpt-0"),
])
def test_a_full_disk_stops_the_run_naming_the_file_and_the_free_space_and_it_resumes(
        report, part, path_pattern, intact):
    record = report[part]
    assert record["error"], f"the run on a full {part} disk did not fail"
    found = re.search(MESSAGE, record["error"])
    assert found and re.search(path_pattern, found.group(1)), record["error"]
    assert float(found.group(2)) < 1300 or found.group(3) != "KiB"
    assert f"The last whole checkpoint, {intact}," in record["error"]
    assert "run the same command again to resume" in record["error"]
    after = record["after_failure"]
    assert after["checkpoints"][0] == intact and not after["leftovers"]  # no half-written files
    assert after["epochs"] in ([], [1])  # readable, whole rows
    # space freed: the same run goes on to its end, every epoch once
    assert record["resumed_step"] == 20
    assert record["after_resume"]["epochs"] == [1, 2]
    assert record["after_resume"]["checkpoints"][0] == "ckpt-20"


def test_a_full_disk_during_an_export_leaves_no_version_and_the_export_works_after(report):
    record = report["export"]
    assert record["error"] and "Nothing was exported" in record["error"], record["error"]
    assert re.search(r"while writing \S*export(/\.staging-1\S*)? \(", record["error"]), record["error"]
    assert record["left"] == []  # neither a version nor the staging folder
    assert record["exported_version"] == 1 and record["versions"] == [1]
