"""The command line end to end: train on a CSV file in a subprocess, predict with the saved model."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import cli, saving
from anyarray_nn.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


def anyarray_nn_command(args, cwd):
    """``anyarray-nn ARGS`` in a fresh interpreter (``python -m anyarray_nn`` is the same entry point)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "anyarray_nn", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def run_main(argv):
    """``cli.main(argv)``'s exit status, also for argparse's own errors, which exit with SystemExit."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture
def weather_csv(tmp_path):
    """Rain data with text labels and the target in the middle, as real files have it."""
    X, y = ann.datasets.make_rain(300, seed=4)
    names = np.array(["dry", "rain"])[y]
    rows = [[f"{t:.2f}", label, f"{h:.1f}", f"{p:.1f}"] for (t, h, p), label in zip(X, names)]
    return write_csv(tmp_path / "weather.csv", ["temperature", "weather", "humidity", "pressure"], rows)


def test_train_on_csv_then_predict(tmp_path, weather_csv):
    run = tmp_path / "run"
    result = anyarray_nn_command(
        ["train", str(weather_csv), "--target", "weather", "--layers", "8", "--epochs", "30", "--verbose", "0",
         "--backend", "numpy", "--out", str(run)],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for name in ("model.npz", "report.txt", "history.json", "history.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert not (run / "model.meta.json").exists()  # the model file holds the whole pipeline
    report = (run / "report.txt").read_text()
    assert "Confusion matrix (rows: actual, columns: predicted)" in report
    accuracy = float(report.split("test accuracy:")[1].split()[0])
    assert accuracy > 0.75  # the rule allows about 0.9
    pipe = Pipeline.load(run / "model.npz")
    assert pipe.class_names == ["dry", "rain"] and pipe.feature_names == ["temperature", "humidity", "pressure"]

    # New readings, columns in another order and no answer column.
    X_new, _ = ann.datasets.make_rain(25, seed=99)
    new = write_csv(tmp_path / "new.csv", ["pressure", "temperature", "humidity"],
                    [[f"{p:.1f}", f"{t:.2f}", f"{h:.1f}"] for t, h, p in X_new])
    result = anyarray_nn_command(
        ["predict", str(run / "model.npz"), str(new), "--out", str(tmp_path / "pred.csv"), "--proba"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    header, rows = read_csv(tmp_path / "pred.csv")
    assert header == ["prediction", "p_dry", "p_rain"] and len(rows) == 25
    proba = np.array([[float(a), float(b)] for _, a, b in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert [r[0] for r in rows] == [["dry", "rain"][int(p >= 0.5)] for p in proba[:, 1]]

    # The same predictions as the saved model gives in this process, on the same standardized readings.
    model = saving.load(run / "model.npz", backend="numpy")
    written = np.column_stack([np.round(X_new[:, 0], 2), np.round(X_new[:, 1], 1), np.round(X_new[:, 2], 1)])
    X_scaled = (written - pipe.scaler_mean) / pipe.scaler_scale
    np.testing.assert_allclose(proba[:, 1], ann.to_numpy(model.predict_proba(X_scaled))[:, 0], rtol=1e-4, atol=1e-6)


def test_the_first_command_of_the_readme(tmp_path):
    """``anyarray-nn train iris`` alone: the model, its dimension table, progress and a test report."""
    result = anyarray_nn_command(["train", "iris"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Model(4-8-3" in out
    assert "layer  activation  init" in out and "Total parameters: 67" in out
    progress = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert 20 <= len(progress) <= 22 and "ETA" in progress[-1]
    assert "Confusion matrix (rows: actual, columns: predicted)" in out
    accuracy = float(out.split("test accuracy:")[1].split()[0])
    assert accuracy >= 0.9
    assert (tmp_path / "anyarray-nn-runs" / "iris" / "model.npz").is_file()


def test_regression_csv_round_trip(tmp_path, capsys):
    X, y = ann.datasets.make_regression(300, seed=1)
    y = 1000.0 + 50.0 * y  # a target far from unit scale
    data = write_csv(tmp_path / "r.csv", ["a", "b", "c", "d", "price"], np.column_stack([X, y]).tolist())
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--epochs", "60", "--verbose", "0", "--no-plots", "--out", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "target column: 'price'" in printed and "task: regression" in printed
    r2 = float(printed.split("test R2:")[1].split()[0])
    assert r2 > 0.5
    assert not (run / "history.png").exists()
    assert cli.main(["predict", str(run / "model.npz"), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    header, rows = read_csv(tmp_path / "p.csv")
    predicted = np.array([float(r[0]) for r in rows])
    assert header == ["prediction"] and len(predicted) == 300
    # Back in the target's units, not standardized ones.
    assert abs(predicted.mean() - y.mean()) < 10.0
    assert "R2" in capsys.readouterr().out  # the file holds the answers, so a report is printed


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--target", "--layers", "--activation", "--optimizer", "--epochs", "--batch-size", "--backend",
                   "--seed", "--out"):
        assert option in text
    assert "digits" in text and "preset" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "missing.csv"], "CSV file not found: 'missing.csv'"),
        (["train", "mnist"], "Unknown data set 'mnist'"),
        (["train", "{csv}", "--target", "Weather"], "Column 'Weather' is not in"),
        (["train", "{csv}", "--target", "weather", "--optimizer", "adamm"], "Unknown optimizer 'adamm'"),
        (["train", "{bad}", "--target", "y"], "line 3, column 'x': a missing value ('n/a')"),
        (["train", "{text}", "--target", "y"], "Column 'x' of"),
        (["predict", "missing.npz", "{csv}"], "Model file not found"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, capsys, weather_csv, args, message):
    bad = write_csv(tmp_path / "bad.csv", ["x", "y"], [["1.5", "0"], ["n/a", "1"]])
    text = write_csv(tmp_path / "text.csv", ["x", "y"], [["1.5", "0"], ["abc", "1"]])
    args = [a.format(csv=weather_csv, bad=bad, text=text) for a in args]
    assert run_main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if "is not in" in message:
        assert "temperature, weather, humidity, pressure" in err  # the columns there are


def test_predict_names_missing_columns(tmp_path, capsys, weather_csv):
    run = tmp_path / "run"
    assert cli.main(["train", str(weather_csv), "--target", "weather", "--epochs", "2", "--verbose", "0",
                     "--no-plots", "--out", str(run)]) == 0
    other = write_csv(tmp_path / "other.csv", ["temperature", "humid"], [["20", "50"]])
    assert cli.main(["predict", str(run / "model.npz"), str(other)]) == 2
    err = capsys.readouterr().err
    assert "lacks the feature column(s) ['humidity', 'pressure']" in err and "temperature, humid" in err


def test_csv_shape_errors(tmp_path, capsys):
    ragged = write_csv(tmp_path / "ragged.csv", ["a", "b"], [["1", "2"], ["3"]])
    assert cli.main(["train", str(ragged)]) == 2
    assert "line 3 has 1 values" in capsys.readouterr().err
    empty = write_csv(tmp_path / "empty.csv", ["a", "b"], [])
    assert cli.main(["train", str(empty)]) == 2
    assert "header row and at least one data row" in capsys.readouterr().err
