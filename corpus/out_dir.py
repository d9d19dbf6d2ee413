"""What the toolkit owns under OUT/ (docs/design.md, "Who owns OUT").

An --out the toolkit creates (or finds empty) gets a marker, OUT/.gpt3-corpus.json; a non-empty folder
without it is someone else's and is refused. Folders it publishes outside a stage (OUT/benchmarks,
OUT/models/quality) carry the same marker, and only a folder with the marker is ever replaced. OUT/.lock,
held with flock, lets one run at a time write into an OUT: the kernel frees it when its holder dies, so a
lock left by a killed run is taken over by the next one. An --out that equals or holds one of the run's
inputs is refused before anything is written.
"""
import fcntl
import json
import os
import shutil
import socket
import sys
import threading
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from corpus.errors import UserError
from corpus.stage_output import (STAGES, TMP_DIR, fsync_path, fsync_tree, is_stage_folder, remove_toolkit_folder,
                                 write_json_atomic)

TOOL = "gpt3-corpus"
MARKER_FILE = ".gpt3-corpus.json"
LOCK_FILE = ".lock"
TEXT_CAP_BYTES = 4096  # a marker or a lock holder is a short JSON line; never read more of either

_held_locks: dict[str, int] = {}  # realpath of OUT -> lock fd held by this process (the job, then run_pipeline)
_held_guard = threading.Lock()


def _version() -> str:
    try:
        return metadata.version(TOOL)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


# ------------------------------------------------------------------------------------------------- marker

def write_marker(folder: Path, kind: str) -> None:
    """Mark `folder` as made by the toolkit; `kind` says what it holds (out, benchmarks, model)."""
    write_json_atomic(folder / MARKER_FILE, {"tool": TOOL, "version": _version(), "kind": kind})


def has_marker(folder: Path) -> bool:
    marker = folder / MARKER_FILE
    if not marker.is_file() or marker.is_symlink():
        return False
    try:
        with open(marker, "rb") as handle:
            return json.loads(handle.read(TEXT_CAP_BYTES)).get("tool") == TOOL
    except (ValueError, AttributeError, RecursionError):  # not JSON, or not an object: not our marker
        return False


def _foreign_entry(out_dir: Path) -> Path | None:
    """The first entry of an unmarked OUT that is not a committed stage output, or None. An OUT holding only
    stage outputs (copied from another run, or made before the marker existed) is the toolkit's."""
    for entry in sorted(out_dir.iterdir()):
        if entry.name == f".{MARKER_FILE}.tmp":  # write_json_atomic's, left by a kill while marking
            continue
        if entry.name not in STAGES or entry.is_symlink() or not is_stage_folder(entry):
            return entry
    return None


def claim_out_dir(out_dir: Path) -> None:
    """Create and mark OUT, or check that an existing OUT is the toolkit's; refuse anything else."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir() and not has_marker(out_dir):
        foreign = _foreign_entry(out_dir)
        if foreign is not None:
            raise UserError(f"--out {out_dir} already holds files this toolkit did not make (such as "
                            f"{foreign.name}); choose a new or empty folder")
    if not has_marker(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        write_marker(out_dir, "out")


# --------------------------------------------------------------------------------------------------- lock

def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": " ".join(sys.argv)}


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return (f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: "
                f"{str(holder['command'])[:200]}")
    except (ValueError, KeyError, TypeError):
        return "a holder that left no readable description"


def _read_lock(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, TEXT_CAP_BYTES).decode("utf-8", "replace").strip()


def _take_lock(out_dir: Path, log) -> int:
    try:
        fd = os.open(out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:  # a link or a folder where the lock file belongs
        raise UserError(f"cannot open the run lock {out_dir / LOCK_FILE} ({error.strerror}); "
                        f"it should be a plain file") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(_read_lock(fd))
        os.close(fd)
        raise UserError(f"another run is writing to {out_dir} ({holder}); wait for it to end or choose "
                        f"another --out") from None
    previous = _read_lock(fd)
    if previous:  # a holder releases by emptying the file: this one died holding it
        log(f"{out_dir}: took over the lock of a run that ended without releasing it ({_describe(previous)})")
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(_holder()) + "\n").encode(), 0)
    os.fsync(fd)
    return fd


def _release_lock(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.close(fd)  # closing the last descriptor releases the flock


@contextmanager
def owned_out_dir(out_dir: Path, log=print):
    """Claim OUT (create and mark it, or check it is the toolkit's) and hold its run lock meanwhile.
    Reentrant within a process: the job takes it before Spark starts, run_pipeline again inside."""
    key = os.path.realpath(out_dir)
    with _held_guard:
        if key in _held_locks:
            reentered = True
        else:
            reentered = False
            claim_out_dir(out_dir)
            _held_locks[key] = _take_lock(out_dir, log)
    if reentered:
        yield
        return
    try:
        yield
    finally:
        with _held_guard:
            _release_lock(_held_locks.pop(key))


# ----------------------------------------------------------------------------------- published folders

def require_replaceable_folder(final: Path) -> None:
    """Refuse when `final` exists without the toolkit's marker: publishing would replace someone else's folder."""
    if (final.exists() or final.is_symlink()) and (final.is_symlink() or not has_marker(final)):
        raise UserError(f"{final} was not made by this toolkit (it has no {MARKER_FILE}), so it will not be "
                        f"replaced; move it away or choose another --out")


def replace_folder(new: Path, final: Path, kind: str) -> None:
    """Put the toolkit's folder `new` (under OUT/_tmp) at `final`, marked; the folder it replaces must carry
    the marker too. Renames, fsynced first, as a stage commit does."""
    require_replaceable_folder(final)
    write_marker(new, kind)
    fsync_tree(new)
    retired = new.with_name(f"{new.name}.retired")
    remove_toolkit_folder(retired)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        os.replace(final, retired)
    os.replace(new, final)
    fsync_path(final.parent)
    remove_toolkit_folder(retired)


def publish_copy(source: Path, final: Path, out_dir: Path, kind: str) -> None:
    """Copy `source` (inside a committed stage) to `final` (outside every stage), replacing only a folder the
    toolkit published there."""
    require_replaceable_folder(final)
    staging = out_dir / TMP_DIR / f"publish-{final.name}"
    remove_toolkit_folder(staging)
    shutil.copytree(source, staging)
    replace_folder(staging, final, kind)


# --------------------------------------------------------------------------------------------- inputs

def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def refuse_out_holding_inputs(out_dir: Path, inputs: list[tuple[str, str, bool]]) -> None:
    """Refuse an OUT that equals or contains an input, compared both as spelled (absolute) and as resolved
    (symlinks followed). `inputs`: (the flag as written before the path, path, read recursively); a folder
    read recursively may not hold OUT either, or the run would read its own output."""
    outs = {os.path.abspath(out_dir), os.path.realpath(out_dir)}
    for flag, path, recursive in inputs:
        for spelled in {os.path.abspath(path), os.path.realpath(path)}:
            for out in outs:
                if _within(spelled, out):
                    raise UserError(f"--out {out_dir} holds the input {flag}{path}; choose an --out outside "
                                    f"every input")
                if recursive and _within(out, spelled):
                    raise UserError(f"--out {out_dir} is inside the input {flag}{path}, which is read with "
                                    f"everything under it; choose an --out outside it")
