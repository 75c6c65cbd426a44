"""Writing the logged epochs to a CSV or JSON file."""

import csv
import json
from pathlib import Path

from train import COLUMNS


def record(row):
    """The metrics columns of a logged row, in order (rows may carry more)."""
    return {name: row[name] for name in COLUMNS}


def write_metrics(rows, path, config=None):
    """Write one record per logged epoch to ``path``.

    A name ending in .json gives {"config": ..., "epochs": [records]}; any
    other name gives CSV with a header row of ``COLUMNS``. Floats are written
    with repr(), so the file holds exactly the numbers that were logged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [record(row) for row in rows]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"config": config, "epochs": records}, indent=1) + "\n")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
