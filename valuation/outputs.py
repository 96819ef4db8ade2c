"""Output folders: checked before any work, written whole or not at all, never destroying.

Every command that writes a folder (``dpv synth``, ``dpv calibrate``, ``dpv pledge``) follows
one rule:

* the folder must be new or empty, or hold a previous dpv output **of the same kind** and
  ``--force`` be given. Each kind's own index file is its marker (``truth.json`` written by
  ``dpv synth``, ``manifest.json`` by ``dpv calibrate``, ``assessment.json`` by ``dpv pledge``,
  ``summary.json`` by ``dpv demo``), and every other file in the folder must be one that kind
  writes. A folder with anything else in it is never replaced, ``--force`` or not, and
  neither is the working folder or one that contains it;
* the check (:func:`check_output_folder`) runs before the work starts: a path that lies under
  a file, whose parent cannot be written, or that is taken, is refused with exit 2;
* the output is written into a temporary sibling folder and moved into place at the end
  (:func:`publish_folder`); on failure the temporary folder is removed, and an old output is
  replaced only once the new one is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from valuation.exceptions import DpvInputError

MSG_NOT_A_FOLDER = "exists and is not a folder"
MSG_UNDER_A_FILE = "lies under {file}, which is a file, not a folder"
MSG_UNWRITABLE = "cannot write into the parent folder {folder}"
MSG_NOT_EMPTY = "exists and is not empty (use --force to replace a previous dpv {kind} output)"
MSG_NOT_OURS = (
    "holds files that are not a previous dpv {kind} output; dpv replaces only its own "
    "outputs, even with --force: choose another folder"
)
MSG_HOLDS_CWD = "is the working folder or contains it; choose another folder"


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output_folder(
    out: str | os.PathLike[str],
    kind: str,
    *,
    force: bool,
    owns: Callable[[Path], bool],
    option: str = "--out",
) -> Path:
    """Check that ``out`` may receive a dpv output of ``kind``; return it as a Path.

    Parameters
    ----------
    out
        The folder to write.
    kind
        The kind of output (``"synth"``, ``"calibration"``, ``"pledge"``).
    force
        Whether a previous output of the same kind may be replaced.
    owns
        Whether a non-empty folder is wholly a previous output of ``kind``: its index file is
        there and every entry is one that kind writes.
    option
        The command-line option named in errors.

    Raises
    ------
    DpvInputError
        The path is a file, lies under a file, cannot be written, is the working folder (or
        holds it), or holds files and is not a previous output of ``kind`` replaced with
        ``force``.
    """
    path = Path(out)
    source = str(out)
    if path.exists() and not path.is_dir():
        raise DpvInputError(MSG_NOT_A_FOLDER, source=source, field=option)
    existing = _nearest_existing(path.absolute().parent)
    if not existing.is_dir():
        raise DpvInputError(MSG_UNDER_A_FILE.format(file=existing), source=source, field=option)
    try:  # a real attempt: permissions, read-only mounts and /proc all answer it
        os.rmdir(tempfile.mkdtemp(prefix=".dpv-probe-", dir=existing))
    except OSError:
        raise DpvInputError(
            MSG_UNWRITABLE.format(folder=existing), source=source, field=option
        ) from None
    if path.is_dir() and any(path.iterdir()):
        cwd = Path.cwd().resolve()
        resolved = path.resolve()
        if resolved == cwd or resolved in cwd.parents:
            raise DpvInputError(MSG_HOLDS_CWD, source=source, field=option)
        if not owns(path):
            raise DpvInputError(MSG_NOT_OURS.format(kind=kind), source=source, field=option)
        if not force:
            raise DpvInputError(MSG_NOT_EMPTY.format(kind=kind), source=source, field=option)
    return path


def holds_only(folder: Path, index: str, names: Callable[[str], bool]) -> bool:
    """Whether ``folder`` holds the file ``index`` and only entries whose name ``names`` accepts."""
    if not (folder / index).is_file():
        return False
    return all(names(entry.name) for entry in folder.iterdir())


def staging_folder(out: Path) -> Path:
    """Create the temporary sibling folder an output of ``out`` is written into.

    The parents of ``out`` are created; the folder gets the usual permissions (mkdtemp's 0700
    is for the half-written folder only).
    """
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    return tmp


def publish_folder(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` onto ``out``, replacing an old output.

    The old folder is moved aside first and removed only once the new one is in place.
    """
    if not out.exists():
        os.replace(tmp, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.replace(tmp, out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.absolute().parent))
    try:
        os.replace(out, trash / "old")
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(trash / "old", out)  # put the old output back
            raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def write_folder(
    out: Path,
    kind: str,
    write: Callable[[Path], object],
    *,
    force: bool,
    owns: Callable[[Path], bool],
    option: str = "--out",
) -> None:
    """Check ``out``, run ``write(staging)`` and publish the staging folder onto ``out``."""
    check_output_folder(out, kind, force=force, owns=owns, option=option)
    tmp = staging_folder(out)
    try:
        write(tmp)
        publish_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = [
    "check_output_folder",
    "holds_only",
    "publish_folder",
    "staging_folder",
    "write_folder",
]
