import csv
import json
import math

import pytest

from program.metrics import write_metrics
from program.train import COLUMNS

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


def test_missing_folders_on_the_way_are_created(tmp_path):
    for name in ("m.csv", "m.json"):
        path = tmp_path / "a" / "b" / name
        write_metrics(ROWS, path, COLUMNS)
        assert path.is_file()


def test_json_is_indented_by_one_space_and_ends_with_a_newline(tmp_path):
    path = tmp_path / "m.json"
    write_metrics(ROWS, path, COLUMNS, config={"seed": 0})
    expected = {"config": {"seed": 0}, "epochs": [{k: ROWS[0][k] for k in COLUMNS}]}
    assert path.read_text() == json.dumps(expected, indent=1) + "\n"


def test_json_writes_nan_and_infinite_figures_as_null(tmp_path):
    path = tmp_path / "m.json"
    row = dict(ROWS[0], loss=math.nan, data_loss=math.inf, reg_loss=-math.inf)
    write_metrics([row], path, COLUMNS)

    def refuse(constant):
        raise AssertionError(f"{constant} is not strict JSON")

    saved = json.loads(path.read_text(), parse_constant=refuse)
    assert saved["epochs"] == [dict({k: row[k] for k in COLUMNS}, loss=None, data_loss=None,
                                    reg_loss=None)]


def test_json_is_strict_so_a_config_holding_nan_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_metrics(ROWS, tmp_path / "m.json", COLUMNS, config={"learning_rate": math.nan})
