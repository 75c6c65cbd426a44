"""Writing the logged epochs to a CSV or JSON file."""

import csv
import json
import math
from pathlib import Path


def record(row, columns):
    """The metrics columns of a logged row, in order (rows may carry more)."""
    return {name: row[name] for name in columns}


def write_metrics(rows, path, columns, config=None):
    """Write one record per logged epoch to ``path``, with ``columns`` (``train.columns``).

    A name ending in .json gives {"config": ..., "epochs": [records]}, with
    null for a NaN or infinite figure; any other name gives CSV with a header
    row of the columns. Floats are written with repr(), so the file holds
    exactly the numbers that were logged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [record(row, columns) for row in rows]
    if path.suffix.lower() == ".json":
        # Strict JSON has no NaN or Infinity (a diverged run's losses): they are null.
        records = [{name: value if not isinstance(value, float) or math.isfinite(value)
                    else None for name, value in row.items()} for row in records]
        path.write_text(json.dumps({"config": config, "epochs": records}, indent=1,
                                   allow_nan=False) + "\n")
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)
