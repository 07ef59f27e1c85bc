"""The README's quick start runs as written."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _section_code(title):
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))


def test_quick_start_runs(capsys):
    code = _section_code("Quick start")
    assert "model.fit" in code and "model.backward" in code
    namespace = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    model, X_test, y_test = namespace["model"], namespace["X_test"], namespace["y_test"]
    assert namespace["labels"].shape == (45,)
    assert namespace["probs"].shape == (45, 3)
    assert (namespace["labels"] == y_test).mean() >= 0.95
    assert tuple(namespace["Z1"].shape) == (105, 8)
    assert "passed=True" in capsys.readouterr().out


def test_callback_and_registry_examples_run(capsys):
    code = _section_code("What is inside")
    namespace = {}
    exec(compile(code, "README callbacks", "exec"), namespace)
    history = namespace["history"]
    assert history.epochs < 300 and history.stop_reason.startswith("accuracy")
    assert namespace["model"].layers[0].activation.name == "cube"
    assert "accuracy" in capsys.readouterr().out


def test_saving_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(_section_code("Saving, loading and resuming"), "README saving", "exec"), namespace)
    assert (tmp_path / "iris.npz").exists() and (tmp_path / "run.npz").exists()
    assert namespace["labels"].shape == (150,)


def test_data_parallel_example_runs_on_one_process(tmp_path, monkeypatch):
    """The README's data-parallel script, as one process (a communicator of one changes nothing)."""
    import pytest

    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'anyarray-nn[mpi]')")
    monkeypatch.chdir(tmp_path)
    code = _section_code("Training on several machines").replace("epochs=20", "epochs=2")
    namespace = {}
    exec(compile(code, "README data parallel", "exec"), namespace)
    assert namespace["history"].epochs == 2 and (tmp_path / "digits.npz").exists()
