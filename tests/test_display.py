"""What a learner reads while training: the dimension table and the progress lines."""

import io

import pytest

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
    assert len(lines) == 5
    for epoch, line in enumerate(lines[:4], start=1):
        assert line.startswith(f"epoch {epoch}/4")
        for field in ("loss", "acc", "val_loss", "val_acc", "s/epoch", "elapsed", "ETA"):
            assert field in line
    assert lines[-1].startswith("completed 4 epochs in ")


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
    progress.on_train_end({"stop_reason": "completed 200 epochs", "epochs_done": 200})
    lines = stream.getvalue().splitlines()
    assert 21 <= len(lines) <= 23
    assert lines[-2].startswith("epoch 200/200") and "ETA 0.0s" in lines[-2]
    assert lines[-1].startswith("completed 200 epochs in ")


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


# --------------------------------------------------------------------------------------------------
# how training ended, and the in-epoch bar
def test_early_stopping_prints_the_last_epoch_and_why(capsys):
    """1000 epochs asked, stopped early: the last epoch trained and the reason are printed at verbose=1."""
    X, y = ann.datasets.load_iris()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = _model()
    stopper = ann.EarlyStopping(patience=3, monitor="loss", min_delta=0.5)
    history = model.fit(X, y, ann.Solver(learning_rate=0.05),
                        ann.Settings(epochs=1000, batch_size=16, verbose=1, early_stopping=stopper))
    assert history.epochs < 1000
    lines = capsys.readouterr().out.strip().splitlines()
    last = history.epochs
    assert lines[-2].startswith(f"epoch {last:>4}/1000")
    assert lines[-1].startswith(f"stopped after epoch {last} of 1000 (")
    assert history.stop_reason in lines[-1] and "early stopping at epoch" in lines[-1]
    assert "restored the weights of epoch" in lines[-1]  # said where it is printed, not only in the History


def test_a_user_callbacks_stop_reason_is_printed(capsys):
    class StopAtTwo(ann.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.stop_training, self.stop_reason = True, "enough at epoch 2"

    X, y = ann.datasets.load_iris()
    _model().fit(X, y, settings=ann.Settings(epochs=500, verbose=1), callbacks=[StopAtTwo()])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("epoch   2/500") and lines[-1].endswith("): enough at epoch 2")


def test_resuming_a_finished_run_says_there_is_nothing_to_train():
    stream = io.StringIO()
    progress = callbacks.ProgressLogger(verbose=1, stream=stream)
    progress.on_train_begin({"epochs": 12, "first_epoch": 13, "batches": 4})
    progress.on_train_end({"stop_reason": "completed 12 epochs", "epochs_done": 12})
    assert stream.getvalue().startswith("nothing to train: the run had done 12 epochs and `epochs` is 12")


class _Stream(io.StringIO):
    def __init__(self, terminal):
        super().__init__()
        self.terminal = terminal

    def isatty(self):
        return self.terminal


def _slow_epoch(progress, epoch=1, batches=20):
    progress.on_epoch_begin(epoch)
    progress._epoch_start -= 10.0  # as if the epoch had run for 10 s: its batch count shows
    for batch in range(1, batches + 1):
        progress.on_batch_end(batch)
    progress.on_epoch_end(epoch, {"loss": 0.5, "epoch_time": 10.0})


def test_no_bar_in_a_log_file_only_plain_lines():
    """A redirected log gets a few plain lines per slow epoch, never a bar's carriage returns."""
    stream = _Stream(terminal=False)
    progress = callbacks.ProgressLogger(verbose=1, stream=stream)
    progress.on_train_begin({"epochs": 100, "first_epoch": 1, "batches": 20})
    _slow_epoch(progress, epoch=1)
    _slow_epoch(progress, epoch=2)  # no line for epoch 2 at verbose=1: no batch lines either
    text = stream.getvalue()
    assert "\r" not in text
    batch_lines = [line for line in text.splitlines() if "batch" in line]
    assert batch_lines and all(line.startswith("  epoch 1: batch") for line in batch_lines)
    assert len(batch_lines) <= 10


def test_the_bar_is_drawn_on_a_terminal_only_on_stderr(monkeypatch):
    pytest.importorskip("tqdm")
    out, err = _Stream(terminal=True), _Stream(terminal=True)
    monkeypatch.setattr(callbacks.sys, "stdout", out)
    monkeypatch.setattr(callbacks.sys, "stderr", err)
    progress = callbacks.ProgressLogger(verbose=1)
    progress.on_train_begin({"epochs": 3, "first_epoch": 1, "batches": 20})
    _slow_epoch(progress)
    assert "epoch 1" in err.getvalue()  # tqdm's bar
    assert "batch" not in out.getvalue() and out.getvalue().startswith("epoch 1/3")

    # stderr redirected to a file: no bar at all.
    out, err = _Stream(terminal=True), _Stream(terminal=False)
    monkeypatch.setattr(callbacks.sys, "stdout", out)
    monkeypatch.setattr(callbacks.sys, "stderr", err)
    progress = callbacks.ProgressLogger(verbose=1)
    progress.on_train_begin({"epochs": 3, "first_epoch": 1, "batches": 20})
    _slow_epoch(progress)
    assert err.getvalue() == ""
