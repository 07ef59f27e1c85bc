"""The benchmark scripts run end to end on tiny settings and write complete reports.

Only the shape of the reports is checked here, never a timing: the figures themselves come from full
runs of the scripts (see benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script, *args, cwd):
    """Run a benchmark script from a directory outside the checkout; returns its output."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _report(out_dir, name):
    with open(Path(out_dir) / f"{name}.json", encoding="utf-8") as f:
        report = json.load(f)
    machine = report["machine"]
    assert machine["cpu"] and machine["versions"]["numpy"] and machine["versions"]["anyarray_nn"]
    assert machine["blas"], "the report names NumPy's BLAS"
    assert report["command"].startswith(f"python benchmarks/{name}.py")
    assert report["markdown_table"].startswith("|")
    return report


def _positive(x):
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_training_throughput_reports_floor_and_peers(tmp_path):
    out = _run(
        "training_throughput.py", "--samples", 700, "--batch-sizes", 64, 256, "--repeat", 2, "--warmup", 0,
        "--backends", "numpy", "--out-dir", tmp_path, cwd=tmp_path,
    )
    assert "epoch/floor" in out and "target  :" in out
    report = _report(tmp_path, "training_throughput")
    rows = report["results"]
    assert [(r["backend"], r["batch_size"]) for r in rows] == [("numpy", 64), ("numpy", 256)]
    for r in rows:
        assert len(r["epoch"]["times_s"]) == 2 and len(r["floor"]["times_s"]) == 2
        for key in ("samples_per_s", "epoch_over_floor", "epoch_over_floor_of_medians", "epoch_over_floor_best"):
            assert _positive(r[key]), key
        assert 0.0 <= r["epoch"]["train_accuracy"][-1] <= 1.0
    if report["torch_nn"]:  # torch is installed: the torch.nn peer ran in the same rounds
        assert all(_positive(r["over_torch_nn"]) for r in rows)
    if report["sklearn"]:
        assert all(_positive(r["sklearn_speedup"]) for r in rows)
    assert report["jax_jit"] == [] and report["keras"] == []  # the JAX peers run with the JAX row only
    targets = report["targets"]
    assert targets["numpy epoch/floor at batch 64"]["value"] == rows[0]["epoch_over_floor"]
    assert targets["cupy epoch / torch.nn (cuda) at batch 1024"]["met"] is None  # not measured here
    pytest.importorskip("matplotlib", reason="the plot needs matplotlib")
    assert (tmp_path / "training_throughput.png").stat().st_size > 1000


def test_training_throughput_reports_jax_and_its_peers(tmp_path):
    pytest.importorskip("jax", reason="the JAX row and its peers need jax")
    out = _run(
        "training_throughput.py", "--samples", 300, "--batch-sizes", 64, 256, "--repeat", 1, "--warmup", 0,
        "--backends", "jax", "--no-torch-nn", "--no-sklearn", "--out-dir", tmp_path, cwd=tmp_path,
    )
    assert "jax.jit" in out
    report = _report(tmp_path, "training_throughput")
    rows = report["results"]
    assert [(r["backend"], r["batch_size"]) for r in rows] == [("jax", 64), ("jax", 256)]
    for r in rows:
        assert _positive(r["epoch_over_floor"]) and isinstance(r["compiled"], bool)
        assert _positive(r["over_jax_jit"])
    # The hand-written step starts from the library's weights and draws its permutations: the same losses.
    for peer, r in zip(report["jax_jit"], rows):
        assert peer["batch_size"] == r["batch_size"] and _positive(peer["median_s"])
        assert peer["train_loss"] == pytest.approx(r["epoch"]["train_loss"], rel=1e-3)
    targets = report["targets"]
    jit_target = targets["jax (compiled) epoch / hand-written jax.jit at batch 64 and 256"]
    if rows[0]["compiled"] and rows[1]["compiled"]:
        assert jit_target["value"] == max(r["over_jax_jit"] for r in rows)
    else:  # the target is about the compiled step only
        assert jit_target["value"] is None and jit_target["met"] is None
    if importlib.util.find_spec("keras") is None:
        assert report["keras"] == [] and any(s.startswith("keras peer") for s in report["skipped"])
        return
    assert [k["batch_size"] for k in report["keras"]] == [64, 256]
    assert all(k["backend"] == "jax" and _positive(k["median_s"]) for k in report["keras"])
    assert all(_positive(r["over_keras"]) for r in rows)
    assert "vs keras" in report["markdown_table"]


def test_training_throughput_skips_jax_peers_on_request(tmp_path):
    pytest.importorskip("jax", reason="the JAX row needs jax")
    _run(
        "training_throughput.py", "--samples", 200, "--batch-sizes", 64, "--repeat", 1, "--warmup", 0,
        "--backends", "jax", "--no-torch-nn", "--no-sklearn", "--no-jax-jit", "--no-keras", "--out-dir", tmp_path,
        cwd=tmp_path,
    )
    report = _report(tmp_path, "training_throughput")
    assert report["jax_jit"] == [] and report["keras"] == []
    assert any("--no-jax-jit" in s for s in report["skipped"]) and any("--no-keras" in s for s in report["skipped"])
    assert "over_jax_jit" not in report["results"][0] and "over_keras" not in report["results"][0]


def test_scaling_reports_both_sweeps(tmp_path):
    _run(
        "scaling.py", "--widths", 16, 32, "--width-samples", 400, "--samples", 400, 800, "--batch-size", 64,
        "--repeat", 1, "--warmup", 0, "--out-dir", tmp_path, cwd=tmp_path,
    )
    results = _report(tmp_path, "scaling")["results"]
    assert len(results["width"]) == 2 and len(results["data"]) == 2
    for r in results["width"] + results["data"]:
        assert _positive(r["epoch_over_floor"]) and _positive(r["us_per_sample"])


def test_training_memory_reports_peak_against_reference(tmp_path):
    _run("training_memory.py", "--samples", 800, "--batch-sizes", 64, "--out-dir", tmp_path, cwd=tmp_path)
    (row,) = _report(tmp_path, "training_memory")["results"]
    assert row["peak_bytes"] > 0 and row["reference_bytes"] > 0
    assert row["reference_bytes"] == row["data_bytes"] + row["parameter_bytes"] + row["activation_bytes"]


def test_predict_memory_runs(tmp_path):
    out = _run("predict_memory.py", "--rows", 1500, "--features", 20, cwd=tmp_path)
    assert "extra over the input" in out


@pytest.mark.parametrize(
    "script, args",
    [
        ("compare_optimizers.py", ["--seeds", 1, "--datasets", "iris"]),
        ("sklearn_comparison.py", ["--seeds", 1, "--max-iter", 5, "--datasets", "breast_cancer"]),
    ],
)
def test_comparison_scripts_print_their_tables(tmp_path, script, args):
    pytest.importorskip("sklearn", reason="the comparison scripts load scikit-learn's data sets")
    out = _run(script, *args, cwd=tmp_path)
    assert "|---" in out


def test_data_parallel_reports_step_time_and_allreduce_share(tmp_path):
    if shutil.which("mpiexec") is None and shutil.which("mpiexec", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mpiexec is not installed (pip install '.[mpi]')")
    out = _run("data_parallel.py", "--ranks", 1, 2, "--batch", 64, "--steps", 2, "--rounds", 1, "--out-dir", tmp_path, cwd=tmp_path)
    assert "all-reduce share" in out
    report = _report(tmp_path, "data_parallel")
    assert [r["ranks"] for r in report["results"]] == [1, 2]
    for r in report["results"]:
        assert _positive(r["step_s"]) and 0.0 <= r["allreduce_share"] < 1.0
    assert report["results"][0]["allreduce_s"] == 0.0  # one rank has nothing to sum


def test_streaming_reports_memmap_against_memory_and_the_step_overhead(tmp_path):
    out = _run(
        "streaming.py", "--samples", 600, "--batch-sizes", 64, "--backends", "numpy", "--repeat", 2,
        "--step-repeat", 1, "--out-dir", tmp_path, cwd=tmp_path,
    )
    assert "memmap/memory" in out and "target  :" in out
    report = _report(tmp_path, "streaming")
    (row,) = report["results"]
    assert row["backend"] == "numpy" and row["batch_size"] == 64
    assert _positive(row["memmap_over_memory"]) and len(row["memmap"]["times_s"]) == 2
    assert _positive(report["read_throughput"][0]["rows_per_s"])
    assert report["peak_resident_bytes"]["64"] > 0 and report["file_bytes"] == 600 * 784 * 4
    for optimizer in ("sgd", "adam"):
        figures = report["step_overhead"][optimizer]
        assert _positive(figures["fit_us_per_step"]) and _positive(figures["bare_step_us"])
        assert figures["driver_us_per_step"] == figures["fit_us_per_step"] - figures["bare_step_us"]
    sgd = report["step_overhead"]["sgd"]
    assert _positive(sgd["plain_numpy_us"]) and sgd["fit_over_plain"] == sgd["fit_us_per_step"] / sgd["plain_numpy_us"]


def test_streaming_steps_only_times_the_steps_alone(tmp_path):
    out = _run("streaming.py", "--steps-only", "--step-repeat", 1, "--out-dir", tmp_path, cwd=tmp_path)
    assert "hand-written NumPy" in out and "memmap/memory" not in out
    with open(tmp_path / "step_overhead.json", encoding="utf-8") as f:
        report = json.load(f)
    assert report["command"].startswith("python benchmarks/streaming.py --steps-only") and report["machine"]["cpu"]
    assert set(report["step_overhead"]) == {"sgd", "adam"}
