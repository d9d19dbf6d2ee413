"""Stage outputs under OUT/: written to OUT/_tmp/<stage>, renamed into place when complete (cc_net's
tmp + finalize), so a stage's output is there whole or not at all, and a rerun skips what is done."""
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


def write_json_atomic(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class StageOutput:
    out_dir: Path
    stage: str

    @property
    def final(self) -> Path:
        return self.out_dir / self.stage

    @property
    def tmp(self) -> Path:
        return self.out_dir / "_tmp" / self.stage

    def is_complete(self) -> bool:
        return (self.final / SUCCESS_MARKER).exists()

    def check_reusable(self, settings: dict) -> bool:
        """True if a completed output was made with these settings; a completed output made with other
        settings is refused rather than silently reused."""
        if not self.is_complete():
            return False
        previous = json.loads((self.final / SETTINGS_FILE).read_text())
        if previous != json.loads(json.dumps(settings, sort_keys=True, default=str)):
            raise UserError(f"{self.final} was made with other settings; pass --redo {self.stage} "
                            f"to remake it, or choose another --out")
        return True

    def begin(self, settings: dict) -> Path:
        """A fresh temporary directory for this stage's output, holding its settings."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        write_json_atomic(self.tmp / SETTINGS_FILE, settings)
        return self.tmp

    def commit(self) -> None:
        (self.tmp / SUCCESS_MARKER).write_text("")
        retired = self.out_dir / "_tmp" / f"{self.stage}.retired"
        shutil.rmtree(retired, ignore_errors=True)
        if self.final.exists():
            os.replace(self.final, retired)
        os.replace(self.tmp, self.final)
        shutil.rmtree(retired, ignore_errors=True)

    def counts(self) -> dict:
        return json.loads((self.final / COUNTS_FILE).read_text())
