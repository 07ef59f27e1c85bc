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
