"""Reading the raw exports: CSV files from the old loggers, JSON Lines from the new ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path


def read_csv(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV file as a dict of strings, tagged with the file it came from."""
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(row, source_file=path.name) for row in csv.DictReader(f)]


def read_jsonl(path: Path) -> list[dict[str, object]]:
    """Every record of a JSON Lines file (blank lines skipped), tagged with its file's name."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(dict(json.loads(line), source_file=path.name))
    return rows


def read_dir(directory: Path) -> list[dict[str, object]]:
    """The rows of every ``*.csv`` and ``*.jsonl`` file in ``directory``, files in name order."""
    rows: list[dict[str, object]] = []
    for path in sorted(directory.iterdir()):
        if path.suffix == ".csv":
            rows.extend(read_csv(path))
        elif path.suffix == ".jsonl":
            rows.extend(read_jsonl(path))
    return rows
