"""The structure of the package: imports run one way, and no import hides inside a function.

The layers are declared in pyproject.toml (``[tool.importlinter]``) and checked by import-linter:
components -> layers -> network -> step / callbacks -> training -> model -> saving -> cli / sklearn.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "anyarray_nn")


def test_imports_run_one_way():
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is not installed (it comes with the [test] extra)")
    cwd = os.getcwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml from the working directory
    try:
        assert cli.lint_imports(config_filename=os.path.join(ROOT, "pyproject.toml")) == 0
    finally:
        os.chdir(cwd)


def _function_level_imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.level > 0 or (inner.module or "").startswith("anyarray_nn")):
                    found.append(f"{os.path.basename(path)}:{inner.lineno}")
                if isinstance(inner, ast.Import) and any(a.name.startswith("anyarray_nn") for a in inner.names):
                    found.append(f"{os.path.basename(path)}:{inner.lineno}")
    return found


def test_no_module_of_the_package_is_imported_inside_a_function():
    """A function-level import of the package's own modules is how a circle hides; there are none."""
    found = []
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py"):
            found += _function_level_imports(os.path.join(PACKAGE, name))
    assert not found, f"imports inside functions: {found}"
