"""The command line end to end: train on a CSV file in a subprocess, predict with the saved model."""

import argparse
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
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


# --------------------------------------------------------------------------------------------------
# the parser: version, help on every option, full lists of choices
def test_version(capsys):
    assert run_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"anyarray-nn {ann.__version__}"


def test_every_option_of_every_command_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == {"train", "evaluate", "predict", "export"}
    for name, command in [("anyarray-nn", parser), *commands.items()]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings or action.dest)


def test_choices_are_listed_in_full(capsys):
    assert run_main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in ann.activations.names():
        assert name in text.split("--activation NAME")[-1].split("--dtype")[0]
    for name in ann.optimizers.names():
        assert name in text
    assert "..." not in text.split("--activation NAME")[-1].split("--dtype")[0]
    for option in ("--early-stopping", "--checkpoint", "--checkpoint-every", "--resume", "--resume-from", "--force",
                   "--ignore", "--id-column", "--drop-missing", "--delimiter"):
        assert option in text


def test_auto_backend_note_is_printed_once(tmp_path, capsys):
    assert cli.main(["train", "iris", "--epochs", "2", "--no-plots", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    note = ann.Backend("auto").note
    assert note and out.count(note) == 1


# --------------------------------------------------------------------------------------------------
# progress and early stopping on the command line
def test_early_stopping_says_when_and_why(tmp_path, capsys):
    argv = ["train", "iris", "--epochs", "1000", "--early-stopping", "3", "--min-delta", "0.05", "--no-plots",
            "--backend", "numpy", "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "early stopping: val_loss, patience 3" in out
    ended = next(line for line in out.splitlines() if line.startswith("stopped after epoch"))
    epoch = int(ended.split()[3])
    assert epoch < 1000 and "early stopping at epoch" in ended
    assert f"epoch {epoch:>4}/1000" in out  # the last epoch trained has its line
    assert json.loads((tmp_path / "run" / "history.json").read_text())["stop_reason"].startswith("early stopping")
    assert run_main(argv[:-2] + ["--monitor", "accuracy", "--min-delta", "0", "--early-stopping", "2",
                                 "--out", str(tmp_path / "run2")]) == 0
    assert run_main(["train", "iris", "--monitor", "loss", "--out", str(tmp_path / "run3")]) == 2
    assert "give --early-stopping PATIENCE too" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# checkpoints, resuming and Ctrl-C
def _train_args(tmp_path, epochs, *extra):
    return ["train", "regression", "--epochs", str(epochs), "--verbose", "0", "--no-plots", "--backend", "numpy",
            "--out", str(tmp_path / "run"), *extra]


def test_checkpoints_resume_and_never_overwrite_silently(tmp_path, capsys):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    assert cli.main(_train_args(tmp_path, 4, "--checkpoint-every", "2")) == 0
    assert ann.load(checkpoint).history_.epochs == 4
    before = checkpoint.read_bytes()

    # The same command again would start afresh: refused, the checkpoint kept.
    assert cli.main(_train_args(tmp_path, 4, "--checkpoint-every", "2")) == 2
    err = capsys.readouterr().err
    assert "already holds an earlier run" in err and "--resume" in err and "--force" in err
    assert checkpoint.read_bytes() == before

    # --resume goes on to the total of --epochs.
    assert cli.main(_train_args(tmp_path, 7, "--checkpoint-every", "2", "--resume")) == 0
    assert "resuming from" in capsys.readouterr().out
    assert ann.load(checkpoint).history_.epochs == 7
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["loss"]) == 7

    # --force starts afresh over it.
    assert cli.main(_train_args(tmp_path, 2, "--checkpoint-every", "1", "--force")) == 0
    assert ann.load(checkpoint).history_.epochs == 2

    # --resume-from continues any model file, --resume without a checkpoint starts afresh.
    other = tmp_path / "elsewhere.npz"
    assert cli.main(_train_args(tmp_path, 4, "--resume-from", str(checkpoint), "--checkpoint", str(other))) == 0
    assert ann.load(other).history_.epochs == 4
    fresh = tmp_path / "fresh.npz"
    assert cli.main(_train_args(tmp_path, 2, "--checkpoint", str(fresh), "--resume")) == 0
    assert "starting afresh" in capsys.readouterr().out and ann.load(fresh).history_.epochs == 2
    assert run_main(_train_args(tmp_path, 2, "--resume", "--force")) == 2
    assert run_main(_train_args(tmp_path, 2, "--resume-from", str(tmp_path / "none.npz"))) == 2
    assert "Model file not found" in capsys.readouterr().err


def _sigint_after(argv, cwd, ready):
    """Run ``anyarray-nn ARGV``, send it SIGINT once ``ready(stdout_lines)`` holds; (exit status, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    # SIGINT raises KeyboardInterrupt as at a terminal, even where this test runs with SIGINT ignored.
    proc = subprocess.Popen(
        [sys.executable, "-m", "anyarray_nn", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines, errors = [], []
    readers = [threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True),
               threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 120
        while not ready(list(lines)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "".join(errors)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for reader in readers:
            reader.join(timeout=10)
    return proc.returncode, "".join(lines), "".join(errors)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_ends_with_one_line_and_how_to_resume(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    argv = _train_args(tmp_path, 100000, "--checkpoint-every", "2")
    argv[argv.index("--verbose") + 1] = "1"
    status, out, err = _sigint_after(argv, tmp_path, lambda lines: checkpoint.exists())
    assert status == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith("anyarray-nn train: interrupted: stopped ")
    saved = ann.load(checkpoint).history_.epochs
    assert f"last checkpoint: epoch {saved} in {str(checkpoint)!r}" in line
    command = line.split("resume with: ")[1]
    assert command.startswith("anyarray-nn train regression") and command.endswith("--resume")

    # The printed command resumes (here up to two more epochs).
    resume = shlex.split(command)[1:]
    resume[resume.index("--epochs") + 1] = str(saved + 2)
    resume[resume.index("--verbose") + 1] = "0"
    assert cli.main(resume) == 0
    assert ann.load(checkpoint).history_.epochs == saved + 2


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_without_checkpoint_says_nothing_was_saved(tmp_path):
    argv = _train_args(tmp_path, 100000)
    argv[argv.index("--verbose") + 1] = "2"
    status, out, err = _sigint_after(argv, tmp_path, lambda lines: any(line.startswith("epoch") for line in lines))
    assert status == 130
    assert err.strip().splitlines()[-1].startswith("anyarray-nn train: interrupted: stopped ")
    assert "nothing was saved" in err and "--checkpoint-every" in err and len(err.strip().splitlines()) == 1


def test_exit_statuses_as_a_subprocess(tmp_path):
    assert anyarray_nn_command(["--version"], tmp_path).returncode == 0
    assert anyarray_nn_command(["train", "iris", "--epochs", "-1"], tmp_path).returncode == 2
    result = anyarray_nn_command(["predict", "nothing.npz", "x.csv"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


# --------------------------------------------------------------------------------------------------
# evaluate
def test_evaluate_on_the_training_data_uses_its_held_out_rows(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "iris", "--epochs", "30", "--no-plots", "--verbose", "0", "--out", str(run)]) == 0
    trained = capsys.readouterr().out
    assert cli.main(["evaluate", str(run / "model.npz"), "iris"]) == 0
    out = capsys.readouterr().out
    assert "on the 45 test rows held out when the model was trained on 'iris'" in out
    # The same figures as the training report's.
    assert out.split("test accuracy:")[1].split()[0] == trained.split("test accuracy:")[1].split()[0]
    assert cli.main(["evaluate", str(run / "model.npz"), "iris", "--rows", "all"]) == 0
    out = capsys.readouterr().out
    assert "all 150 rows of 'iris' (training rows included)" in out and "accuracy:" in out
    assert run_main(["evaluate", str(run / "model.npz"), "rain"]) == 2
    assert "has the features" in capsys.readouterr().err


def test_evaluate_a_regression_on_a_labelled_csv(tmp_path, capsys):
    X, y = ann.datasets.make_regression(200, seed=2)
    data = write_csv(tmp_path / "r.csv", ["a", "b", "c", "d", "price"], np.column_stack([X, y]).tolist())
    run = tmp_path / "run"
    assert cli.main(["train", str(data), "--epochs", "20", "--verbose", "0", "--no-plots", "--out", str(run)]) == 0
    capsys.readouterr()
    X2, y2 = ann.datasets.make_regression(50, seed=3)
    other = write_csv(tmp_path / "new.csv", ["d", "c", "b", "a", "price"], np.column_stack([X2[:, ::-1], y2]).tolist())
    assert cli.main(["evaluate", str(run / "model.npz"), str(other)]) == 0
    out = capsys.readouterr().out
    assert "all 50 rows of 'new.csv'" in out and "R2:" in out
    assert run_main(["evaluate", str(run / "model.npz"), str(other), "--rows", "test"]) == 2
    assert "use --rows all" in capsys.readouterr().err
    unlabelled = write_csv(tmp_path / "u.csv", ["a", "b", "c", "d"], X2.tolist())
    assert run_main(["evaluate", str(run / "model.npz"), str(unlabelled)]) == 2
    assert "has no column 'price'" in capsys.readouterr().err


def test_evaluate_needs_a_model_written_by_train(tmp_path, capsys):
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    ann.save(model, tmp_path / "m.npz")
    assert run_main(["evaluate", str(tmp_path / "m.npz"), "iris"]) == 2
    assert "written by anyarray_nn.save" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# real CSV files: IDs, columns to ignore, missing cells, semicolons, the predictions file
@pytest.fixture
def messy_csv(tmp_path):
    """Rain data as a spreadsheet in many countries writes it: ';', decimal commas, an ID, a text column, gaps."""
    X, y = ann.datasets.make_rain(300, seed=5)
    labels = np.array(["dry", "rain"])[y]
    lines = ["day;station;temperature;humidity;pressure;weather"]
    for i, ((t, h, p), label) in enumerate(zip(X, labels)):
        humidity = "" if i in (4, 40) else f"{h:.1f}".replace(".", ",")
        lines.append(f"d{i:03d};S{i % 3};{t:.2f};{humidity};{p:.1f};{label}".replace(f"{t:.2f}", f"{t:.2f}".replace(".", ",")))
    path = tmp_path / "weather;semicolons.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_real_csv_from_training_to_predictions(tmp_path, capsys, messy_csv):
    run = tmp_path / "run"
    base = ["train", str(messy_csv), "--epochs", "20", "--verbose", "0", "--no-plots", "--out", str(run)]
    # An empty cell: its line and column, and the option that drops such rows.
    assert cli.main(base + ["--id-column", "day", "--ignore", "station"]) == 2
    err = capsys.readouterr().err
    assert "line 6, column 'humidity': an empty cell" in err and "lines 6, 42" in err and "--drop-missing" in err
    # A column of text: named, with the option that leaves it out.
    assert cli.main(base + ["--id-column", "day", "--drop-missing"]) == 2
    err = capsys.readouterr().err
    assert "Column 'station'" in err and "line 2 holds 'S0'" in err and "--ignore station" in err
    assert cli.main(base + ["--id-column", "day", "--ignore", "station", "--drop-missing"]) == 0
    out = capsys.readouterr().out
    assert "columns separated by ';'" in out and "target column: 'weather'" in out
    assert "ignored columns: station" in out and "dropped 2 row(s) with missing cells: lines 6, 42" in out
    pipe = Pipeline.load(run / "model.npz")
    assert pipe.feature_names == ["temperature", "humidity", "pressure"] and pipe.id_column == "day"

    # Predictions carry the ID column of training; rows with gaps are skipped with their lines.
    predictions = tmp_path / "predictions.csv"
    argv = ["predict", str(run / "model.npz"), str(messy_csv), "--out", str(predictions), "--proba"]
    assert cli.main(argv) == 2
    assert "--drop-missing" in capsys.readouterr().err and not predictions.exists()
    assert cli.main(argv + ["--drop-missing"]) == 0
    out = capsys.readouterr().out
    assert "skipped 2 row(s) with missing cells: lines 6, 42" in out and "(with the column 'day')" in out
    header, rows = read_csv(predictions)
    assert header == ["day", "prediction", "p_dry", "p_rain"] and len(rows) == 298
    assert rows[0][0] == "d000" and "d004" not in [r[0] for r in rows]
    assert {r[1] for r in rows} <= {"dry", "rain"}

    # Not overwritten without --force.
    stamp = predictions.read_bytes()
    assert cli.main(argv + ["--drop-missing"]) == 2
    err = capsys.readouterr().err
    assert "already exists; pass --force to replace it" in err and predictions.read_bytes() == stamp
    assert cli.main(argv + ["--drop-missing", "--force", "--id-column", "station"]) == 0
    assert read_csv(predictions)[0][0] == "station"


def test_predict_with_a_plain_saved_model_and_an_id(tmp_path, capsys):
    X, y = ann.datasets.load_iris()
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    model.fit(X, y, settings=ann.Settings(epochs=2, verbose=0))
    ann.save(model, tmp_path / "m.npz")
    data = write_csv(tmp_path / "x.csv", ["name", "a", "b", "c", "d"], [[f"f{i}", *row] for i, row in enumerate(X[:5])])
    out = tmp_path / "p.csv"
    assert cli.main(["predict", str(tmp_path / "m.npz"), str(data), "--out", str(out), "--id-column", "name"]) == 0
    header, rows = read_csv(out)
    assert header == ["name", "prediction"] and [r[0] for r in rows] == [f"f{i}" for i in range(5)]
    assert [int(r[1]) for r in rows] == ann.to_numpy(model.predict(X[:5])).tolist()
    assert cli.main(["predict", str(tmp_path / "m.npz"), str(data), "--out", str(tmp_path / "q.csv")]) == 2
    assert "--id-column and --ignore" in capsys.readouterr().err


def test_csv_options_are_refused_for_named_data_sets(tmp_path, capsys):
    for option in (["--ignore", "a"], ["--id-column", "a"], ["--drop-missing"], ["--delimiter", ";"]):
        assert run_main(["train", "iris", *option, "--out", str(tmp_path)]) == 2
        assert "applies to CSV files" in capsys.readouterr().err
