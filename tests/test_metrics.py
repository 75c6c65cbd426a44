import csv
import json

from metrics import write_metrics
from train import COLUMNS

ROWS = [dict(epoch=1, loss=1.5, data_loss=1.0, reg_loss=0.5, accuracy=0.25,
             learning_rate=0.1, val_loss=1.25, val_accuracy=1 / 3, layers=[{}])]


def test_csv_has_the_columns_and_exact_values(tmp_path):
    path = tmp_path / "sub" / "m.csv"
    write_metrics(ROWS, path, COLUMNS)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert list(rows[0]) == list(COLUMNS)
    assert float(rows[0]["val_accuracy"]) == 1 / 3


def test_json_holds_config_and_epochs(tmp_path):
    path = tmp_path / "m.JSON"
    write_metrics(ROWS, path, COLUMNS, config={"seed": 0})
    saved = json.loads(path.read_text())
    assert saved["config"] == {"seed": 0}
    assert saved["epochs"] == [{k: ROWS[0][k] for k in COLUMNS}]
