"""The examples run as scripts on small settings; their report and PNG files are checked."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# (script, extra arguments, a line the report must hold, {png: (width, height)})
CASES = [
    # iris on array_api_strict's second device, which behaves like a GPU (no implicit host transfer).
    ("iris.py", ["--epochs", "20", "--backend", "array_api_strict", "--device", "device1", "--verbose", "2"],
     "test accuracy:", {"history.png": (1000, 400), "confusion_matrix.png": (500, 450)}),
    ("rain.py", ["--epochs", "5", "--samples", "400"], "log loss:",
     {"history.png": (1000, 400), "confusion_matrix.png": (500, 450)}),
    ("digits.py", ["--epochs", "3", "--hidden", "32"], "test accuracy:",
     {"history.png": (1000, 400), "confusion_matrix.png": (750, 700)}),
    ("regression.py", ["--epochs", "5", "--samples", "300"], "test R2:",
     {"history.png": (600, 400), "predictions.png": (500, 500)}),
]


def run_script(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def check_png(path, size):
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (size[1], size[0]), path
    assert float(np.var(image[..., :3])) > 0.0, f"{path} is blank"


@pytest.mark.parametrize("script, extra, marker, pngs", CASES, ids=[c[0] for c in CASES])
def test_example_runs_and_writes_its_outputs(tmp_path, script, extra, marker, pngs):
    pytest.importorskip({"digits.py": "sklearn", "iris.py": "array_api_strict"}.get(script, "numpy"))
    out = tmp_path / "out"
    args = [str(ROOT / "examples" / script), "--backend", "numpy", "--verbose", "0", "--out", str(out), *extra]
    result = run_script(args, tmp_path)  # later options win: iris picks its own backend
    assert result.returncode == 0, result.stderr
    report = (out / "report.txt").read_text()
    assert marker in report and marker in result.stdout
    if marker != "test R2:":
        assert "Confusion matrix (rows: actual, columns: predicted)" in report
        assert "macro avg" in report and "weighted avg" in report
        accuracy = float(report.split("test accuracy:")[1].split()[0])
        assert 0.0 <= accuracy <= 1.0
    else:
        assert "RMSE" in report and "MAE" in report
    for name, size in pngs.items():
        check_png(out / name, size)
    assert "layer  activation" in result.stdout  # the dimension table is printed
    if script == "iris.py":
        assert "device='device1'" in result.stdout
        progress = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
        assert len(progress) == 20 and all("val_loss" in line and "ETA" in line for line in progress)

