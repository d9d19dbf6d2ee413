"""Stage outputs under OUT/: written to OUT/_tmp/<stage>, renamed into place when complete (cc_net's
tmp + finalize), so a stage's output is there whole or not at all, and a rerun skips what is done.

A commit is tmp/_SUCCESS, then final → _tmp/<stage>.retired, then tmp → final, each step fsynced first. A kill
between the two renames leaves no final but a complete tmp: `recover` finishes the commit on the next start
instead of letting the stage be recomputed from an earlier one."""
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import UserError

STAGES = ("extract", "quality", "dedup", "decontam", "shards")  # pipeline order, as --stages spells them
SUCCESS_MARKER = "_SUCCESS"
SETTINGS_FILE = "settings.json"
COUNTS_FILE = "counts.json"
RESUME_DIR = "_tasks"  # a stage's done markers, one per finished task: its tmp is resumed, not remade
TMP_DIR = "_tmp"  # OUT/_tmp: the toolkit's scratch space, where stages write before they commit


def parse_stage_list(text: str) -> tuple[str, ...]:
    """'extract,dedup' → stages in pipeline order; an unknown stage is a user error."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in STAGES:
            raise UserError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
    if not names:
        raise UserError("--stages names no stage")
    return tuple(stage for stage in STAGES if stage in names)


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's entries to disk (a rename is durable only once its directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under root, deepest first, then root: whatever wrote them (pyarrow,
    tokenizers, numpy), they are on disk before the rename that publishes them."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            if not os.path.islink(os.path.join(folder, name)):
                fsync_path(Path(folder, name))
        fsync_path(Path(folder))


def write_text_atomic(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary name, fsynced, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def write_json_atomic(path: Path, payload) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def _as_saved(settings: dict):
    """Settings as settings.json holds them, to compare with what a folder was made with."""
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def remove_toolkit_folder(path: Path) -> None:
    """Remove a folder the toolkit made under OUT/_tmp (a link is unlinked, never followed)."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def is_stage_folder(path: Path) -> bool:
    """The toolkit's own evidence that a folder is a committed stage output: its _SUCCESS and settings.json."""
    return (path / SUCCESS_MARKER).is_file() and (path / SETTINGS_FILE).is_file()


@dataclass(frozen=True)
class StageOutput:
    out_dir: Path
    stage: str

    @property
    def final(self) -> Path:
        return self.out_dir / self.stage

    @property
    def tmp(self) -> Path:
        return self.out_dir / TMP_DIR / self.stage

    @property
    def retired(self) -> Path:
        return self.out_dir / TMP_DIR / f"{self.stage}.retired"

    def is_complete(self) -> bool:
        return is_stage_folder(self.final)

    def require_replaceable(self) -> None:
        """Refuse to go on when OUT/<stage> exists but is not a stage output the toolkit committed: committing
        would replace a folder it did not make."""
        if (self.final.exists() or self.final.is_symlink()) and not is_stage_folder(self.final):
            raise UserError(f"{self.final} is not a stage output of this toolkit (it has no {SUCCESS_MARKER} and "
                            f"{SETTINGS_FILE}), so the {self.stage} stage will not replace it; move it away or "
                            f"choose another --out")

    def recover(self, log) -> None:
        """Finish a commit that a kill interrupted between its renames, and drop what it left retired."""
        if not self.final.exists() and (self.tmp / SUCCESS_MARKER).is_file():
            self._rename(self.tmp, self.final)
            log(f"{self.stage}: recovered the complete output an interrupted commit left in {self.tmp}")
        elif not self.final.exists() and is_stage_folder(self.retired):
            self._rename(self.retired, self.final)
            log(f"{self.stage}: restored the previous output an interrupted commit left in {self.retired}")
        if self.final.exists() and (self.retired.exists() or self.retired.is_symlink()):
            remove_toolkit_folder(self.retired)

    def finish_interrupted_commit(self, settings: dict, log) -> None:
        """A kill after tmp/_SUCCESS but before the renames leaves, beside the old final, a complete output in
        tmp; when it was made with these settings, commit it rather than make it again."""
        if (self.tmp / SUCCESS_MARKER).is_file() and (self.tmp / SETTINGS_FILE).is_file() \
                and json.loads((self.tmp / SETTINGS_FILE).read_text()) == _as_saved(settings):
            self.commit()
            log(f"{self.stage}: committed the complete output an interrupted commit left in {self.tmp}")

    def check_reusable(self, settings: dict) -> bool:
        """True if a completed output was made with these settings; a completed output made with other
        settings is refused rather than silently reused."""
        if not self.is_complete():
            return False
        previous = json.loads((self.final / SETTINGS_FILE).read_text())
        if previous != _as_saved(settings):
            raise UserError(f"{self.final} was made with other settings; pass --redo {self.stage} "
                            f"to remake it, or choose another --out")
        return True

    def begin(self, settings: dict) -> Path:
        """A fresh temporary directory for this stage's output, holding its settings; or the one a killed run
        left, when it was made with these settings and its tasks mark what they finished (RESUME_DIR): the
        stage then runs only the rest (corpus.extract_stage)."""
        self.require_replaceable()  # before the work, not after it
        if self._resumable(settings):
            return self.tmp
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        write_json_atomic(self.tmp / SETTINGS_FILE, settings)
        return self.tmp

    def _resumable(self, settings: dict) -> bool:
        try:
            saved = json.loads((self.tmp / SETTINGS_FILE).read_text())
        except (OSError, ValueError):
            return False
        return saved == _as_saved(settings) and (self.tmp / RESUME_DIR).is_dir() and not self.tmp.is_symlink()

    def commit(self) -> None:
        self.require_replaceable()
        fsync_tree(self.tmp)
        with open(self.tmp / SUCCESS_MARKER, "w") as handle:
            os.fsync(handle.fileno())
        fsync_path(self.tmp)
        remove_toolkit_folder(self.retired)
        if self.final.exists() or self.final.is_symlink():
            self._rename(self.final, self.retired)
        self._rename(self.tmp, self.final)
        remove_toolkit_folder(self.retired)

    def _rename(self, source: Path, target: Path) -> None:
        os.replace(source, target)
        fsync_path(target.parent)
        if source.parent != target.parent:
            fsync_path(source.parent)

    def counts(self) -> dict:
        return json.loads((self.final / COUNTS_FILE).read_text())
