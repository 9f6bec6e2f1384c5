"""Results that survive interruption.

An output directory holds one sweep: `config.yaml` (the resolved config), `config.sha256`
(its hash), `chunks/` (one CSV per evaluated chunk, each written to a temporary name and then
renamed, so a killed run leaves only whole chunks) and, at the end, `results.csv`.
Re-running the same config finds the chunks, skips the design points they hold and writes
the rest; the final table is rebuilt from the chunks in point order, so a resumed run's table
is identical to an uninterrupted one. A directory holding a different config is refused
rather than overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import yaml

from dse.errors import UserError

POINT = "point"  # column: the design point's index in the space's enumeration


def config_hash(config: dict) -> str:
    """SHA-256 of the resolved config's canonical JSON. Key order is irrelevant except in
    `space`, whose order fixes the design points' indices."""
    canon = dict(config)
    if isinstance(canon.get("space"), dict):
        canon["space"] = [[k, v] for k, v in canon["space"].items()]
    text = json.dumps(canon, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ResultStore:
    """The output directory of one sweep (see the module docstring)."""

    def __init__(self, directory: str | Path, config: dict):
        self.dir = Path(directory)
        self.hash = config_hash(config)
        self.chunks = self.dir / "chunks"
        marker = self.dir / "config.sha256"
        if marker.exists() and marker.read_text().strip() != self.hash:
            raise UserError(
                f"output directory {str(self.dir)!r} holds results of a different config "
                f"(hash {marker.read_text().strip()[:12]}, this one {self.hash[:12]}); "
                "choose another output.dir or delete that directory"
            )
        self.chunks.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        _atomic_write(marker, self.hash + "\n")

    def _chunk_files(self) -> list[Path]:
        return sorted(self.chunks.glob("part-*.csv"))

    def load(self) -> pd.DataFrame:
        """Every stored row, one per design point, in point order."""
        files = self._chunk_files()
        if not files:
            return pd.DataFrame()
        df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        df = df.drop_duplicates(POINT, keep="first").sort_values(POINT, kind="stable")
        return df.reset_index(drop=True)

    def done(self) -> set[int]:
        """Point indices already stored."""
        files = self._chunk_files()
        return set().union(*(set(pd.read_csv(f, usecols=[POINT])[POINT]) for f in files))

    def append(self, rows: pd.DataFrame) -> None:
        """Store a chunk of evaluated rows (they must carry the `point` column)."""
        if rows.empty:
            return
        n = len(self._chunk_files())
        _atomic_write(self.chunks / f"part-{n:06d}.csv", rows.to_csv(index=False))

    def finish(self, table: pd.DataFrame | None = None) -> Path:
        """Write `results.csv` (the stored rows, or `table`) and return its path."""
        table = self.load() if table is None else table
        path = self.dir / "results.csv"
        _atomic_write(path, table.to_csv(index=False))
        return path


def read_results(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """(results table, resolved config) of a finished sweep: a directory or a results CSV."""
    p = Path(path)
    csv = p / "results.csv" if p.is_dir() else p
    if not csv.exists():
        raise UserError(f"no results at {str(path)!r} (expected a sweep's output directory)")
    cfg_file = csv.parent / "config.yaml"
    config = yaml.safe_load(cfg_file.read_text()) if cfg_file.exists() else {}
    return pd.read_csv(csv), config
