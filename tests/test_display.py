"""What a learner reads while training: the dimension table and the progress lines."""

import io

import anyarray_nn as ann
from anyarray_nn import callbacks


def _model():
    return ann.Model(
        [ann.Layer(4, 16, "relu", init="he"), ann.Layer(16, 8, "tanh"), ann.Layer(8, 3, "softmax")],
        backend="numpy", seed=0,
    )


def test_summary_lists_every_shape_for_the_batch():
    text = _model().summary(batch_size=32)
    rows = {line.split()[0]: line for line in text.splitlines() if line.split() and line.split()[0] in "123"}
    assert set(rows) == {"1", "2", "3"}
    # W (n_in, n_out), b (n_out,), Z and A (m, n_out), parameters, activation and initializer per layer.
    assert rows["1"].split() == ["1", "relu", "he/normal", "(4,", "16)", "(16,)", "(32,", "16)", "80"]
    assert rows["2"].split() == ["2", "tanh", "xavier/normal", "(16,", "8)", "(8,)", "(32,", "8)", "136"]
    assert rows["3"].split() == ["3", "softmax", "xavier/normal", "(8,", "3)", "(3,)", "(32,", "3)", "27"]
    assert "X: (32, 4)" in text
    assert "Total parameters: 243" in text
    assert _model().n_params == 243


def _fit(verbose, batch_size=16, epochs=4):
    X, y = ann.datasets.load_iris()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = _model()
    return model, model.fit(
        X[:120], y[:120], ann.Solver(learning_rate=0.05),
        ann.Settings(epochs=epochs, batch_size=batch_size, verbose=verbose), validation_data=(X[120:], y[120:]),
    )


def test_progress_lines(capsys):
    _fit(verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {epoch}/4")
        for field in ("loss", "acc", "val_loss", "val_acc", "s/epoch", "elapsed", "ETA"):
            assert field in line


def test_progress_is_silenced(capsys):
    _fit(verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_prints_about_twenty_lines():
    stream = io.StringIO()
    progress = callbacks.ProgressLogger(verbose=1, stream=stream)
    progress.on_train_begin({"epochs": 200, "first_epoch": 1, "batches": 4})
    for epoch in range(1, 201):
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"loss": 1.0 / epoch, "epoch_time": 0.01})
    lines = stream.getvalue().splitlines()
    assert 20 <= len(lines) <= 22
    assert lines[-1].startswith("epoch 200/200") and "ETA 0.0s" in lines[-1]


def test_progress_after_a_resume_estimates_from_this_run(monkeypatch):
    """Resumed at epoch 90 of 100: the time left comes from the epochs this run trained, not from 90."""
    clock = {"t": 1000.0}
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: clock["t"])
    stream = io.StringIO()
    progress = callbacks.ProgressLogger(verbose=2, stream=stream)
    progress.on_train_begin({"epochs": 100, "first_epoch": 91, "batches": 4})
    for epoch in range(91, 101):
        progress.on_epoch_begin(epoch)
        clock["t"] += 2.0  # two seconds per epoch
        progress.on_epoch_end(epoch, {"loss": 0.5, "epoch_time": 2.0})
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("epoch  91/100") and "elapsed 2.0s" in lines[0] and "ETA 18.0s" in lines[0]
    assert "ETA 10.0s" in lines[4] and lines[-1].endswith("ETA 0.0s")


def test_host_reads_do_not_grow_with_the_number_of_batches(monkeypatch):
    """The device is read once per epoch, however many batches the epoch has."""
    calls = []
    real = ann.Backend.to_numpy
    monkeypatch.setattr(ann.Backend, "to_numpy", lambda self, x: calls.append(1) or real(self, x))
    counts = []
    for batch_size in (120, 4):  # 1 and 30 batches per epoch
        calls.clear()
        _fit(verbose=1, batch_size=batch_size, epochs=3)
        counts.append(len(calls))
    assert counts[0] == counts[1] > 0
