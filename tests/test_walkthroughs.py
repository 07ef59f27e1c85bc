"""The walkthroughs of the tutorials and the spiral case study run end to end, on small settings.

Each runs as a script, as a learner runs it, on NumPy and on array_api_strict's second device (which
refuses implicit host transfers, like a GPU); its figures are written and its checks hold: the two
layouts agree, the gradient check passes, the loop by hand and ``fit`` give the same numbers.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

BACKENDS = [
    pytest.param(["--backend", "numpy"], id="numpy"),
    pytest.param(["--backend", "array_api_strict", "--device", "device1"], id="strict-device1"),
]

# script: (small settings, {figure: (width, height) in pixels}, lines the output must hold)
CASES = {
    "walkthrough_000_rain.py": (
        ["--samples", "200", "--iterations", "10"],
        {"network.png": (1150, 520), "cost.png": (1100, 400), "diagnostics_he.png": (1200, 750),
         "diagnostics_small_random_init.png": (1200, 750), "confusion_matrix.png": (500, 450)},
        ["## 12. Predict, and the results", "best possible:", "logistic regression"],
    ),
    "walkthrough_001_iris.py": (
        ["--epochs", "2", "--repeats", "2"],
        {"network.png": (690, 520), "history.png": (1000, 400), "validation_within_epoch.png": (1100, 420),
         "confusion_matrix.png": (500, 450), "history_correct.png": (1000, 400)},
        ["19 steps per epoch", "feature row r gets the label of row r - 7", "tutorial (reported)", "macro avg"],
    ),
    "walkthrough_002_l_layer.py": (
        ["--iterations", "3", "--memorize-iterations", "3", "--moons-iterations", "5"],
        {"network.png": (2100, 440), "diagnostics_article.png": (1200, 750), "moons_boundary.png": (550, 500),
         "cost_accuracy.png": (1100, 400)},
        ["Total parameters: 88,081", "article's cost inf", "## 8. Results"],
    ),
    "case_study_spirals.py": (
        ["--epochs", "5", "--widths", "1,3", "--resolution", "20"],
        {"boundaries.png": (1000, 950), "widths.png": (720, 350), "width_accuracy.png": (600, 400),
         "network.png": (690, 520)},
        ["linear softmax", "100 hidden ReLU", "Total parameters: 603"],
    ),
}


def run_script(script, args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def numbers_after(text, marker):
    """Every number printed right after ``marker`` on the lines that hold it."""
    return [float(m) for m in re.findall(re.escape(marker) + r"\s*([-+0-9.eE]+)", text)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("script", sorted(CASES))
def test_walkthrough_runs_and_writes_its_figures(tmp_path, script, backend):
    if "array_api_strict" in backend:
        pytest.importorskip("array_api_strict")
    small, figures, lines = CASES[script]
    out = tmp_path / "out"
    result = run_script(script, [*backend, *small, "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    for line in lines:
        assert line in text, line
    for name, (width, height) in figures.items():
        image = matplotlib.image.imread(out / name)
        assert image.shape[:2] == (height, width), name
        assert float(np.var(image[..., :3])) > 0.0, f"{name} is blank"
    assert "saved" in text.splitlines()[-1]
    if script.startswith("walkthrough"):
        # The gradient check passes, and the tutorial's layout and the library's hold the same numbers.
        assert "GradcheckResult(passed=True" in text
        differences = numbers_after(text, "max |Z1 - Z1c.T| =") + numbers_after(text, "max difference")
        assert differences and max(differences) < 1e-12, differences
    if script == "walkthrough_000_rain.py":
        assert numbers_after(text, "largest difference between the two cost curves:")[0] < 1e-12
        assert numbers_after(text, "one epoch of fit: largest difference")[0] < 1e-12
    if script == "walkthrough_001_iris.py":
        assert numbers_after(text, "largest weight difference between the two:")[0] < 1e-12
        assert "check: model.backward gives the same gradients" in text  # the narrated step
    if script == "walkthrough_002_l_layer.py":
        assert numbers_after(text, "largest cost difference")[0] < 1e-12


def test_examples_guide_lists_every_script_with_its_run_time():
    guide = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for script in sorted(EXAMPLES.glob("*.py")):
        rows = [line for line in guide.splitlines() if line.startswith(f"| [`{script.name}`]")]
        assert rows, f"examples/README.md does not list {script.name}"
        assert re.search(r"\| \d+(\.\d+)? s \|$", rows[0]), rows[0]
