"""Version numbers under an export base folder (TF Serving's layout: base/<n>/saved_model.pb),
claimed so that exports running at the same moment never take the same one.

An export claims number n by creating the folder base/.staging-n (mkdir is atomic: of two
exports, one gets it and the other moves on to n + 1), writes the SavedModel there, and renames
it to base/n when whole. TF Serving watches only numbered folders, so it never sees a half-written
version. A claim records its owner (host and process); an export that died (killed, power cut)
leaves its claim behind, and the next export into the same base folder removes it.
"""
import json
import os
import shutil
import socket
import time

from absl import logging

from gan_zoo.errors import UserError

STAGING_PREFIX = ".staging-"
_OWNER = ".owner.json"
_ORPHAN_AGE_S = 3600  # a claim with no owner record (its export died while renaming) this old


def versions(export_base):
    """The whole version numbers under `export_base` (those holding a saved_model.pb)."""
    if not os.path.isdir(export_base):
        return []
    return sorted(int(d) for d in os.listdir(export_base)
                  if d.isdigit() and os.path.exists(os.path.join(export_base, d, "saved_model.pb")))


def check_free(export_base, version=None):
    """A UserError, before any work, where `export_base` cannot hold versions or `version` is taken."""
    if os.path.exists(export_base) and not os.path.isdir(export_base):
        raise UserError(f"--export_dir={export_base!r} is a file; it names the folder that holds "
                        "the numbered versions. Pass a folder (new or existing).")
    if os.path.exists(os.path.join(export_base, "saved_model.pb")):
        raise UserError(f"{export_base!r} holds an unversioned SavedModel; exports go to numbered "
                        "versions under a base folder (TF Serving's layout). Pass a new --export_dir.")
    if version is not None and (version < 1 or os.path.exists(os.path.join(export_base, str(version)))):
        raise UserError(f"--version={version}: {'versions start at 1' if version < 1 else 'it exists already, and a version is never overwritten'}. "
                        f"Leave --version out for the next one ({_next(export_base)}).")


def claim(export_base, version=None):
    """(version, staging folder) claimed for one export: `version`, or the next free number.
    Removes first what dead exports left; a UserError where `version` is taken."""
    check_free(export_base, version)
    os.makedirs(export_base, exist_ok=True)
    remove_dead_claims(export_base)
    if version is not None:
        staging = _try_claim(export_base, version)
        if staging is None:
            raise UserError(f"--version={version} is being exported by another process right now. "
                            f"Leave --version out for the next free one.")
        return version, staging
    number = _next(export_base)
    while True:
        staging = None if os.path.exists(os.path.join(export_base, str(number))) else _try_claim(export_base, number)
        if staging is not None:
            return number, staging
        number += 1


def publish(staging, export_base, version):
    """Rename the whole export to its version (its owner record removed first)."""
    os.remove(os.path.join(staging, _OWNER))
    os.rename(staging, os.path.join(export_base, str(version)))


def _next(export_base):
    taken = versions(export_base) + [n for n, _ in _claims(export_base)] if os.path.isdir(export_base) else []
    return max(taken, default=0) + 1


def _claims(export_base):
    for name in os.listdir(export_base):
        number = name[len(STAGING_PREFIX):]
        if name.startswith(STAGING_PREFIX) and number.isdigit():
            yield int(number), os.path.join(export_base, name)


def _try_claim(export_base, number):
    staging = os.path.join(export_base, f"{STAGING_PREFIX}{number}")
    try:
        os.mkdir(staging)
    except FileExistsError:
        return None
    try:
        with open(os.path.join(staging, _OWNER), "w") as fh:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}, fh)
    except BaseException:  # a full disk: no claim without its owner is left behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def remove_dead_claims(export_base):
    """Remove the staging folders of exports that died: their process is gone from this host,
    or they have no owner record and are over an hour old. Claims of live exports, and of
    other hosts (a shared folder), are left alone."""
    for _, staging in list(_claims(export_base)):
        if _is_dead(staging):
            logging.warning("Removing %s, left by an export that did not finish.", staging)
            shutil.rmtree(staging, ignore_errors=True)


def _is_dead(staging):
    try:
        with open(os.path.join(staging, _OWNER)) as fh:
            owner = json.load(fh)
    except (OSError, ValueError):
        try:
            return time.time() - os.path.getmtime(staging) > _ORPHAN_AGE_S
        except OSError:
            return False
    if owner.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False
