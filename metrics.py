"""Writing the logged epochs to a CSV or JSON file."""

import csv
import json
from pathlib import Path


def record(row, columns):
    """The metrics columns of a logged row, in order (rows may carry more)."""
    return {name: row[name] for name in columns}


def write_metrics(rows, path, columns, config=None):
    """Write one record per logged epoch to ``path``, with ``columns`` (``train.columns``).

    A name ending in .json gives {"config": ..., "epochs": [records]}; any
    other name gives CSV with a header row of the columns. Floats are written
    with repr(), so the file holds exactly the numbers that were logged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [record(row, columns) for row in rows]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"config": config, "epochs": records}, indent=1) + "\n")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)
