"""The README and the pages it links to: every Python block runs as pasted, on its own, and says what it
claims; the install commands are the ones CI runs; every link leads somewhere.

A block is run alone, in a fresh namespace and an empty working folder. A block that cannot run here (a GPU,
a cluster) says so in the Markdown with ``<!-- skip: reason -->`` on the line before it; shell commands are
``bash`` blocks and printed output ``text`` blocks, which are not run.
"""

from __future__ import annotations

import pathlib
import re
import tomllib

import pytest

import anyarray_nn as ann
from anyarray_nn import activations, losses, optimizers, schedules

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = ["README.md", "benchmarks/README.md", "examples/README.md",
         *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python", "bash", "text"}
# Libraries some blocks need; without them such a block is skipped with the extra to install.
OPTIONAL = {"jax": "jax", "onnxruntime": "test", "ndonnx": "onnx", "onnx": "onnx", "sklearn": "sklearn",
            "mpi4py": "mpi", "matplotlib": "plot", "torch": "torch", "cupy": "cuda12"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
SKIP = re.compile(r"<!--\s*skip:\s*(.+?)\s*-->\s*$")


def blocks(page):
    """``(line, language, code, skip_reason)`` of each fenced block of ``page``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        found.append((line, match.group(1).strip(), match.group(2), skip.group(1) if skip else None))
    return found


PYTHON = [pytest.param(page, line, code, skip, id=f"{page}:{line}")
          for page in PAGES for line, language, code, skip in blocks(page) if language == "python"]


@pytest.fixture
def registries():
    """Blocks may register components: each starts and ends with the registries as they were."""
    saved = [(r, dict(r._classes)) for r in (activations.REGISTRY, losses.REGISTRY, optimizers.REGISTRY,
                                             schedules.REGISTRY)]
    yield
    for registry, classes in saved:
        registry._classes.clear()
        registry._classes.update(classes)


def run_block(page, line, code, skip, folder, monkeypatch):
    if skip:
        pytest.skip(skip)
    monkeypatch.chdir(folder)
    namespace = {"__name__": "__readme__"}
    try:
        exec(compile(code, f"{page}, block at line {line}", "exec"), namespace)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root in OPTIONAL:
            pytest.skip(f"{page}:{line} needs {root} (pip install \".[{OPTIONAL[root]}]\")")
        raise
    return namespace


@pytest.mark.parametrize("page, line, code, skip", PYTHON)
# The scikit-learn page's grid search stops at max_iter=50 to stay quick, as scikit-learn then warns.
@pytest.mark.filterwarnings("ignore:Stochastic Optimizer. Maximum iterations")
def test_every_python_block_runs_alone(page, line, code, skip, tmp_path, monkeypatch, registries, capsys):
    namespace = run_block(page, line, code, skip, tmp_path, monkeypatch)
    for marker, check in CHECKS.items():
        if marker in code:
            check(namespace, tmp_path, capsys.readouterr().out)


# --------------------------------------------------------------------------------------------------
# what particular blocks claim
def _quick_start(ns, folder, out):
    assert ns["labels"].shape == (45,) and ns["probs"].shape == (45, 3)
    assert (ann.to_numpy(ns["labels"]) == ns["y_test"]).mean() >= 0.95
    assert "Total parameters: 67" in out


def _inside(ns, folder, out):
    assert tuple(ns["Z1"].shape) == (150, 5) and "passed=True" in out


def _jax(ns, folder, out):
    assert ns["history"].compiled == "jax.jit" and ns["model"].backend.name == "jax"


def _tour_training(ns, folder, out):
    history = ns["history"]
    assert history.epochs < 1000 and history.stop_reason.startswith("early stopping")
    assert out.strip().splitlines()[-2].startswith("stopped after epoch")  # the progress says it too


def _tour_saving(ns, folder, out):
    assert ns["history"].epochs == 40 and out.strip().endswith("40")
    assert sorted(p.name for p in folder.iterdir()) == ["iris.npz", "run.npz"]
    assert ann.load(folder / "run.npz").history_.epochs == 20  # the checkpoint of the first fit


def _report(ns, folder, out):
    assert "Confusion matrix (rows: actual, columns: predicted)" in out and "virginica" in out


def _onnx(ns, folder, out):
    assert (folder / "iris.onnx").is_file()


def _cross_validation(ns, folder, out):
    assert float(out.strip()) > 0.9


def _training_page(ns, folder, out):
    history = ns["history"]
    assert history.epochs < 500 and history.stop_reason.startswith("early stopping")
    assert history.learning_rate[0] == 1e-3 and history.learning_rate[-1] < 1e-3
    assert ns["model"].optimizer_state_["t"] > 0


def _callback(ns, folder, out):
    assert ns["history"].epochs < 300 and ns["history"].stop_reason.startswith("accuracy")


def _registry(ns, folder, out):
    assert ns["model"].layers[0].activation.name == "cube" and out.strip().endswith("cube")


def _saving_page(ns, folder, out):
    assert ns["labels"].shape == (150,)
    assert sorted(p.name for p in folder.iterdir()) == ["iris.npz", "run.best.npz", "run.npz"]
    assert ann.load(folder / "run.npz").history_.epochs == 40


def _resumable(ns, folder, out):
    assert ns["history"].epochs == 30 and (folder / "resumable.npz").is_file()


def _pipeline(ns, folder, out):
    assert out.strip() == "['setosa', 'setosa', 'setosa']"


def _evaluation_page(ns, folder, out):
    assert 0.8 <= ns["acc"] <= 1.0
    assert tuple(ns["C"].shape) == (2, 2) and int(ns["C"].sum()) == 200
    matplotlib_image = pytest.importorskip("matplotlib.image")
    for name in ("history.png", "confusion_matrix.png"):
        height, width = matplotlib_image.imread(folder / "rain" / name).shape[:2]
        assert width >= 400 and height >= 300, name


def _grid_search(ns, folder, out):
    assert ns["search"].score(ns["X_test"], ns["y_test"]) > 0.9
    assert isinstance(ns["clf"].model_, ann.Model) and "mlpclassifier__alpha" in out


def _distributed(ns, folder, out):
    assert ns["history"].epochs == 20 and (folder / "digits.npz").is_file()


CHECKS = {
    "probs = model.predict_proba(X_test)": _quick_start,
    "ann.gradcheck(model, X[:10], y[:10])": _inside,
    'backend="jax"': _jax,
    'schedule="cosine",\n                    regularization': _tour_training,
    "print(history.epochs)                                # 40": _tour_saving,
    "print(metrics.classification_report(y, model.predict(X)": _report,
    'ann.export_onnx(model, "iris.onnx")': _onnx,
    "cross_val_score(pipe, X, y, cv=3)": _cross_validation,
    "early_stopping=ann.EarlyStopping(patience=10, min_delta=0.0, restore_best_weights=True))": _training_page,
    "class StopAtAccuracy(ann.Callback)": _callback,
    "class Cube(ann.activations.Activation)": _registry,
    'checkpoint="run.npz", checkpoint_every=5, checkpoint_best=True': _saving_page,
    'checkpoint_exists="resume"': _resumable,
    "pipe.predict_names(X[:3])": _pipeline,
    "metrics.confusion_matrix(y_test, y_pred)": _evaluation_page,
    "GridSearchCV(pipe": _grid_search,
    "comm = MPI.COMM_WORLD": _distributed,
}


def test_every_check_finds_its_block():
    """A block that changes so that its check no longer finds it would silently lose the check."""
    code = "\n".join(c for page in PAGES for _, language, c, _ in blocks(page) if language == "python")
    assert [marker for marker in CHECKS if marker not in code] == []


# --------------------------------------------------------------------------------------------------
# the pages themselves
@pytest.mark.parametrize("page", PAGES)
def test_every_block_names_its_language(page):
    for line, language, code, skip in blocks(page):
        assert language in LANGUAGES, f"{page}:{line}: a block in {language or 'no language'!r}"
        if language != "python":
            assert skip is None, f"{page}:{line}: only Python blocks run, so only they are skipped"


def test_the_readme_is_short_and_in_order():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[:4] == ["Install and first run", "Quick start", "Backends", "A tour"]
    for heading in headings:  # the table of contents links each section
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        assert f"(#{anchor})" in text, heading


def test_the_install_commands_are_what_ci_runs():
    readme = [code.strip() for _, language, code, _ in blocks("README.md") if language == "bash"]
    first = readme[0].splitlines()
    assert first[0].startswith("git clone ") and "cd anyarray_nn" in first[0]
    assert first[1] == "python3 -m venv .venv && . .venv/bin/activate"
    assert first[2] == 'pip install ".[plot]" && anyarray-nn train iris'
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert readme[1] == ci[-1] == 'pip install ".[test]" && pytest'
    # The first command installs what the demo needs to draw its plots, and the core stays small.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("matplotlib") for dep in project["optional-dependencies"]["plot"])
    assert not any(dep.startswith("matplotlib") for dep in project["dependencies"])


def test_torch_cpu_build_is_explained():
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in text
    assert "pip install torch==2.13.0" in text and "local CPU wheel is configured" in text


def test_training_from_files_section_says_what_fit_takes():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Training from files and other sources\n", 1)[1].split("\n## ", 1)[0].strip()
    assert section.startswith("`fit` takes in-memory arrays of any backend")


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_lead_to_files_and_headings(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = (ROOT / page).parent / path if path else ROOT / page
        assert file.exists(), f"{page}: link to {target}"
        if anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.M)
            anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in anchors, f"{page}: link to {target}"


def test_examples_guide_lists_every_example_with_its_run_time():
    guide = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    for name in ("iris", "rain", "digits", "regression"):
        row = next(line for line in guide.splitlines() if line.startswith(f"| [`{name}.py`]"))
        assert re.search(r"\| \d+(\.\d+)? s \|$", row), row


def test_the_readme_accuracy_claim_holds(tmp_path, capsys):
    """'accuracy 0.9778 on 45 held-out flowers': the figure of the first command."""
    from anyarray_nn import cli

    assert cli.main(["train", "iris", "--no-plots", "--verbose", "0", "--out", str(tmp_path)]) == 0
    assert "test accuracy: 0.9778 on 45 held-out samples" in capsys.readouterr().out
    assert "accuracy 0.9778 on 45 held-out" in (ROOT / "README.md").read_text(encoding="utf-8")

