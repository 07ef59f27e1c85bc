"""The Model: the user-facing object that holds the layers and the backend.

It checks what users give it, then hands the work to the layers below: forward and backward
propagation to :mod:`anyarray_nn.network`, training to :mod:`anyarray_nn.training`. Its full state (the
architecture, the parameters and what training left) has one description, :meth:`Model.get_state` /
:meth:`Model.from_state`, which saving, checkpoints and the scikit-learn estimators' pickling all use.
"""

from __future__ import annotations

import copy
import os

from . import activations, io, network, optimizers, training
from ._validation import check_positive_int, check_targets, check_X
from .backend import Backend, rng_state_mismatch
from .callbacks import History, existing_checkpoint
from .layers import Layer
from .network import ForwardCache
from .regularization import check_dropout
from .training import Solver, default_solver


class Model:
    """A multilayer perceptron.

    Parameters
    ----------
    layers : list of Layer
        Consecutive layers must chain: ``layers[i].n_out == layers[i + 1].n_in``.
    backend : {"auto", "numpy", "cupy", "torch", "array_api_strict"} or module, default "auto"
        The array library; ``"auto"`` picks CuPy when a CUDA device is present, else NumPy (see
        :class:`~anyarray_nn.backend.Backend`).
    device : optional
        Device on that backend (``"cuda:1"``, ``"device1"`` ...); the backend's default when omitted.
    dtype : {"float32", "float64"}, default "float32"
    seed : int, optional
        Seeds initial weights, shuffling and dropout. The same seed gives the same initial weights on
        every backend.

    Attributes
    ----------
    backend : Backend
        Library, namespace ``xp``, device, dtype and random generator.
    layers : list of Layer
    history_ : History or None
        What the last :meth:`fit` recorded.
    """

    def __init__(self, layers, backend="auto", device=None, dtype="float32", seed=None):
        layers = list(layers) if isinstance(layers, (list, tuple)) else layers
        if not isinstance(layers, list) or not layers:
            raise ValueError(f"`layers` must be a non-empty list of Layer, got {layers!r}.")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"`layers[{i}]` must be a Layer, got {type(layer).__name__}.")
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.n_out != b.n_in:
                raise ValueError(
                    f"`layers` do not chain: layers[{i}] has n_out={a.n_out} but layers[{i + 1}] has n_in={b.n_in}."
                )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"`seed` must be None or an integer >= 0, got {seed!r}.")
        self.layers = layers
        self.backend = Backend(backend, device=device, dtype=dtype, seed=seed)
        for layer in layers:
            layer.build(self.backend)
        self.history_ = None
        self.solver_ = None
        self.optimizer_state_ = None

    # ----------------------------------------------------------------------------------------------
    @property
    def xp(self):
        return self.backend.xp

    @property
    def device(self):
        return self.backend.device

    @property
    def dtype(self):
        return self.backend.dtype_name

    @property
    def n_features(self):
        return self.layers[0].n_in

    @property
    def n_outputs(self):
        return self.layers[-1].n_out

    @property
    def output_activation(self):
        return self.layers[-1].activation.name

    @property
    def n_params(self):
        return sum(layer.n_params for layer in self.layers)

    def parameters(self):
        """The flat list ``[W_1, b_1, W_2, b_2, ...]`` (the order optimizers see)."""
        return [p for layer in self.layers for p in (layer.W, layer.b)]

    def set_parameters(self, params, check=True):
        """Replace all parameters from a flat list ``[W_1, b_1, ...]``.

        With ``check`` (the default) every array is moved to the model's backend, device and dtype and
        its shape is checked, and nothing changes unless all of them fit. ``check=False`` is the training
        loop's path, for arrays that came from the model's own parameters.
        """
        if not check:
            for layer, (W, b) in zip(self.layers, network.pairs(params)):
                layer.bind_unchecked(W, b)
            return
        if not isinstance(params, (list, tuple)) or len(params) != 2 * len(self.layers):
            raise ValueError(f"`params` must be a list of {2 * len(self.layers)} arrays [W_1, b_1, ...].")
        checked = [
            (layer.checked(W, (layer.n_in, layer.n_out), "W"), layer.checked(b, (layer.n_out,), "b"))
            for layer, (W, b) in zip(self.layers, network.pairs(params))
        ]
        for layer, (W, b) in zip(self.layers, checked):
            layer.bind_unchecked(W, b)

    def __repr__(self):
        b = self.backend
        note = f", note={b.note!r}" if b.note else ""
        arch = "-".join(str(n) for n in [self.n_features] + [layer.n_out for layer in self.layers])
        return (
            f"Model({arch}, activations={[layer.activation.name for layer in self.layers]}, "
            f"backend={b.name!r}, device={b.device_str!r}, dtype={b.dtype_name!r}, params={self.n_params}, "
            f"compiler={b.compiler!r}{note})"
        )

    # ----------------------------------------------------------------------------------------------
    # forward propagation
    def forward(self, X, training=False, dropout=0.0):
        """Forward propagation ("FeedForward"), keeping every layer's ``Z`` and ``A``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        training : bool, default False
            Apply dropout (only meaningful with ``dropout > 0``).
        dropout : float, default 0.0
            Probability of dropping each hidden unit when ``training``.

        Returns
        -------
        ForwardCache
            ``cache[l] = (Z_l, A_l)``, each of shape ``(n_samples, layers[l].n_out)``.
        """
        dropout = check_dropout(dropout)
        X = check_X(X, self.backend, self.n_features)
        return self._forward(X, dropout if training else 0.0)

    def _forward(self, X, dropout=0.0):
        masks = network.dropout_masks(self.layers, X.shape[0], dropout, self.backend)
        return network.forward(self.layers, self.parameters(), X, masks, xp=self.xp)

    # ----------------------------------------------------------------------------------------------
    # backpropagation
    def backward(self, cache, y, solver=None):
        """Backpropagation ("BackProp"): the loss and its gradients for every layer.

        Parameters
        ----------
        cache : ForwardCache
            From :meth:`forward` on the same samples.
        y : array-like
            Targets for those samples (class labels, one-hot rows, 0/1 or values; see the README).
        solver : Solver, optional
            Gives the loss and the regularization; default :func:`~anyarray_nn.training.default_solver`.

        Returns
        -------
        loss : 0-d array
            Data loss plus the weight penalty.
        grads_W : list of arrays
            ``grads_W[l]`` has the shape of ``layers[l].W``, ``(n_in, n_out)``.
        grads_b : list of arrays
            ``grads_b[l]`` has the shape of ``layers[l].b``, ``(n_out,)``.
        """
        if not isinstance(cache, ForwardCache) or len(cache) != len(self.layers):
            raise TypeError("`cache` must be the ForwardCache that model.forward(X) returned.")
        solver = default_solver(self, solver)
        T = check_targets(y, self.backend, solver.loss, self.n_outputs, cache.X.shape[0])
        return network.backward(self.layers, self.parameters(), cache, T, solver.loss, solver.regularization, xp=self.xp)

    # ----------------------------------------------------------------------------------------------
    # prediction
    def predict_proba(self, X, batch_size=None):
        """Network outputs for ``X``: class probabilities for softmax / sigmoid outputs.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        batch_size : int, optional
            Rows per chunk (default 8192), so the activations of a huge ``X`` are never all held at once.
            An ``X`` from the host (NumPy, lists) is moved to the device chunk by chunk too, so it may be
            larger than the device's memory.

        Returns
        -------
        array of the backend, shape (n_samples, n_outputs)
        """
        X = check_X(X, self.backend, self.n_features, to_device=False)
        return self._output(X, batch_size)

    def decision_function(self, X, batch_size=None):
        """Pre-activations ``Z`` of the output layer for ``X``, shape ``(n_samples, n_outputs)``, in chunks."""
        X = check_X(X, self.backend, self.n_features, to_device=False)
        return self._output(X, batch_size, logits=True)

    def _output(self, X, batch_size=None, logits=False):
        """Output activations (or the output layer's ``Z``) of a checked ``X``, in chunks of rows."""
        size = None if batch_size is None else check_positive_int(batch_size, "batch_size")
        # A host X (check_X with to_device=False) goes to the device one chunk at a time.
        move = None if self.backend.owns(X) else self.backend.asarray
        return network.output(self.layers, self.parameters(), X, xp=self.xp, move=move, batch_size=size, logits=logits)

    def predict(self, X, batch_size=None):
        """Predictions for ``X``.

        Returns
        -------
        array of the backend
            Softmax output: class indices, shape ``(n_samples,)``. Sigmoid output: 0/1 labels,
            shape ``(n_samples,)`` for one unit or ``(n_samples, n_outputs)`` (multi-label). Otherwise the
            outputs, ``(n_samples,)`` for one unit or ``(n_samples, n_outputs)``.
        """
        A = self.predict_proba(X, batch_size=batch_size)
        decisions = self.layers[-1].activation.decide(A, xp=self.xp)
        # One output unit gives one value per sample.
        return decisions[:, 0] if decisions.ndim == 2 and self.n_outputs == 1 else decisions

    # ----------------------------------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        solver=None,
        settings=None,
        validation_data=None,
        *,
        callbacks=None,
        verbose=None,
        checkpoint=None,
        checkpoint_every=None,
        checkpoint_best=False,
        resume_from=None,
        checkpoint_exists="error",
        eval_batch_size=None,
        comm=None,
        sample_weight=None,
        class_weight=None,
        validation_split=None,
    ):
        """Train the model on ``(X, y)`` with mini-batch gradient descent.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features), or a source
            An array of any backend (moved to the device once), or data read a batch at a time without
            loading it whole (:mod:`anyarray_nn.sources`): a NumPy memmap, an h5py / zarr / Dask array, a
            map-style data set (``fit(dataset, None)``, ``dataset[rows] -> (X, y[, w])``) or a re-iterable
            of ``(X, y[, w])`` batches (``fit(batches, None)``).
        y : array-like, or None for a data set or batch iterable
            Class labels ``(n_samples,)`` or one-hot ``(n_samples, n_classes)`` for softmax; 0/1
            ``(n_samples,)`` or ``(n_samples, n_outputs)`` for sigmoid; values for regression.
        solver : Solver, optional
            Default: SGD at 0.01 with the loss that suits the output activation.
        settings : Settings, optional
            Default: 100 epochs, batches of 32, shuffled.
        validation_data : tuple (X_val, y_val), optional
            Evaluated at the end of every epoch.
        callbacks : list of Callback, optional
            Called after every epoch, after the built-in ones (History, progress, divergence guard,
            schedule, checkpoints, early stopping); see :class:`anyarray_nn.Callback`.
        verbose : int, optional
            Overrides ``settings.verbose``.
        checkpoint : str or os.PathLike, optional
            File the model is saved to during training (see :func:`anyarray_nn.save`), atomically, with
            everything a resumed fit needs: optimizer state, schedule position, History, random state.
            Its folder must exist (checked before training starts).
        checkpoint_every : int, optional
            Save every this many epochs, and after the last one. Default 1 when ``checkpoint`` is given
            without ``checkpoint_best``.
        checkpoint_best : bool, default False
            Save the epoch with the lowest validation loss so far (needs ``validation_data``): to
            ``checkpoint``, or to ``<checkpoint stem>.best.npz`` when ``checkpoint_every`` is also given.
        resume_from : str or os.PathLike, optional
            A checkpoint to continue from: its weights, optimizer state, schedule, History and random
            state replace the model's, and training goes on from the epoch after the saved one up to
            ``settings.epochs``, which counts the epochs of the whole run (a file written by
            :func:`anyarray_nn.save` continues from the epochs its History holds). With the same data,
            settings and backend the result equals an uninterrupted run. Without ``solver``, the
            checkpoint's Solver is used. A checkpoint that does not fit (other layers, optimizer or
            schedule, a damaged file) raises before anything is
            changed, and a resumed fit that fails before its first epoch ends (bad ``X``, a wrong
            argument) puts back the weights, optimizer state, Solver, History and random state it replaced.
        checkpoint_exists : {"error", "resume", "overwrite"}, default "error"
            What to do when ``checkpoint`` (or its ``.best`` file) already exists, which means it holds an
            earlier run. ``"error"`` raises FileExistsError before training, unless the fit resumes from
            that run (``resume_from``); ``"resume"`` continues from ``checkpoint`` when it exists and starts
            afresh when it does not, so the same script can simply be run again after an interruption;
            ``"overwrite"`` starts afresh and replaces the files.
        eval_batch_size : int, optional
            Rows per chunk when evaluating ``validation_data`` (default 8192), which bounds the memory
            its activations take.
        comm : mpi4py communicator, optional
            Data-parallel training: every process of ``comm`` calls ``fit`` with its own shard of the data
            (and of ``validation_data``); ``settings.batch_size`` is the global batch, split evenly over
            the processes; gradients are summed with one all-reduce per step and every process ends with
            the same weights and History. See :mod:`anyarray_nn.distributed` for the exact rules
            (unequal shards, random streams, checkpoints written by rank 0). A communicator of one
            process gives the same results as none. Each rank may pass its own shard of a source
            (:func:`anyarray_nn.distributed.shard` works on them); under ``comm``, a rank's batch loss is
            the weighted mean of its own rows and the ranks' gradients are combined by their rows.
        sample_weight : array-like, shape (n_samples,), optional
            Each row's weight in the loss: a batch's loss is ``sum_i w_i l_i / sum_i w_i`` (a batch whose
            weights add up to 0 adds nothing). With L-BFGS the whole set's weighted mean.
        class_weight : dict or "balanced", optional
            Weight of the rows of each class (``{class: weight}``; classes left out weigh 1), times
            ``sample_weight`` when both are given. ``"balanced"`` is scikit-learn's
            ``n_samples / (n_classes * count(class))``.
        validation_split : float in (0, 1), optional
            As Keras: the last fraction of the rows (before shuffling) is held out as validation data.

        Returns
        -------
        History

        Notes
        -----
        When the training loss of an epoch is NaN or infinite, training stops after that epoch with a
        RuntimeWarning, ``history.stop_reason`` says so, and the model keeps the weights of the previous
        epoch (the optimizer state is dropped). The check reads the epoch's loss, once per epoch.

        The model holds the weights of the last finished step after every step: a callback's
        ``on_batch_end`` may read it (``predict``, ``save``), and whatever stops a fit (an exception in a
        callback, Ctrl-C) leaves those weights, or the epoch's first weights when the interruption came
        while a compiled JAX step held the first layer's buffers. Arrays a callback assigns mid-fit
        (``set_parameters``, ``layer.W = ...``) are copied before training goes on, as those given before
        ``fit``. A model is fitted by one call at a time: a second ``fit`` while one runs (another
        thread) raises a RuntimeError.
        """
        arguments = dict(
            settings=settings,
            validation_data=validation_data,
            callbacks=callbacks,
            verbose=verbose,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            checkpoint_best=checkpoint_best,
            eval_batch_size=eval_batch_size,
            comm=comm,
            sample_weight=sample_weight,
            class_weight=class_weight,
            validation_split=validation_split,
        )
        # A fresh run never writes over the checkpoint of another without being asked.
        resume_from = existing_checkpoint(checkpoint, checkpoint_every, checkpoint_best, resume_from, checkpoint_exists)
        if resume_from is None:
            return training.fit(self, X, y, solver=solver, start_epoch=0, **arguments)
        before = _Snapshot(self, solver)
        start_epoch, solver = self._resume(resume_from, solver)
        resumed = self.history_
        done = 0 if resumed is None else resumed.epochs
        try:
            return training.fit(self, X, y, solver=solver, start_epoch=start_epoch, **arguments)
        except BaseException:
            # A fit that fails before its first epoch ends (bad X, a wrong argument, an interruption)
            # leaves the model as it was before the resume.
            history = self.history_
            if history is None or history.epochs == (done if history is resumed else 0):
                before.restore()
            raise

    def _resume(self, path, solver):
        """Load the checkpoint ``path`` into the model; the epochs it had done and the Solver to go on with.

        Everything is read and checked first; the model changes only once nothing can fail any more.
        """
        if solver is not None and not isinstance(solver, Solver):
            raise TypeError(f"`solver` must be a Solver, got {type(solver).__name__}.")
        header, arrays = io.read_model_file(path)
        content = _State.parse(header, arrays, os.fspath(path))
        mine = [(layer.n_in, layer.n_out, layer.activation.name) for layer in self.layers]
        theirs = [(layer.n_in, layer.n_out, layer.activation.name) for layer in content.layers]
        if mine != theirs:
            raise ValueError(
                f"`resume_from` {os.fspath(path)!r} holds a model with layers {theirs} (n_in, n_out, activation), "
                f"but the model being fitted has {mine}."
            )
        saved = content.solver
        schedule_state = None
        if solver is not None and saved is not None:
            if solver.optimizer.name != saved.optimizer.name:
                raise ValueError(
                    f"`resume_from` {os.fspath(path)!r} was trained with optimizer {saved.optimizer.name!r}, but "
                    f"`solver` uses {solver.optimizer.name!r}; its optimizer state would not fit."
                )
            if type(solver.schedule) is not type(saved.schedule):
                raise ValueError(
                    f"`resume_from` {os.fspath(path)!r} was trained with the schedule {saved.schedule!r}, but "
                    f"`solver` uses {solver.schedule!r}; its position would not fit."
                )
            try:
                schedule_state = solver.schedule.check_state(saved.schedule.state_dict())
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"`resume_from` {os.fspath(path)!r}: the position of its schedule {saved.schedule!r} does not fit "
                    f"the schedule of `solver`, {solver.schedule!r} ({exc})"
                ) from None
        content.apply(self)
        if solver is None or saved is None:
            solver = saved if solver is None else solver
            if saved is None:
                self.optimizer_state_ = None
        else:
            solver.schedule.load_state_dict(schedule_state)
        if solver is not None:
            # The Solver the state belongs to: fit then continues it instead of starting afresh.
            solver = default_solver(self, solver)
            self.solver_ = solver
        training_info = header["training"]
        if training_info is not None:
            return training_info["epoch"], solver
        # A file of anyarray_nn.save records no epoch count: its History holds the epochs done.
        return (0 if self.history_ is None else self.history_.epochs), solver

    def evaluate(self, X, y, solver=None):
        """The loss (with penalty) and, for classifiers, the accuracy on ``(X, y)`` as Python floats."""
        solver = default_solver(self, solver)
        X = check_X(X, self.backend, self.n_features)
        T = check_targets(y, self.backend, solver.loss, self.n_outputs, X.shape[0])
        return training.evaluate(self, X, T, solver)

    # ----------------------------------------------------------------------------------------------
    def summary(self, batch_size=1, layout="rows"):
        """The dimension table: shapes of W, b, Z and A per layer for a batch of ``batch_size`` samples.

        Parameters
        ----------
        batch_size : int, default 1
            The number of samples ``m`` in the shapes of ``X``, ``Z`` and ``A``.
        layout : {"rows", "columns"}, default "rows"
            ``"rows"``: the model's own arrays, samples as rows (``W`` ``(n_in, n_out)``, ``b``
            ``(n_out,)``, ``Z`` and ``A`` ``(m, n_out)``, ``Z = A_prev @ W + b``). ``"columns"``: the
            shapes as the tutorials write them, samples as columns (``W`` ``(n_out, n_in)``, ``b``
            ``(n_out, 1)``, ``Z`` and ``A`` ``(n_out, m)``, ``Z = W @ A_prev + b``): every array is the
            transpose of the model's (``W_columns = layer.W.T``).

        Returns
        -------
        str
        """
        m = check_positive_int(batch_size, "batch_size")
        if layout not in ("rows", "columns"):
            raise ValueError(f"`layout` must be 'rows' or 'columns', got {layout!r}.")
        columns = layout == "columns"
        rows = [("layer", "activation", "init", "W", "b", "Z, A", "params")]
        shape_X = f"({self.n_features}, {m})" if columns else f"({m}, {self.n_features})"
        rows.append(("input", "", "", "", "", f"X: {shape_X}", ""))
        for i, layer in enumerate(self.layers, start=1):
            rows.append(
                (
                    str(i),
                    layer.activation.name,
                    f"{layer.init}/{layer.distribution}",
                    f"({layer.n_out}, {layer.n_in})" if columns else f"({layer.n_in}, {layer.n_out})",
                    f"({layer.n_out}, 1)" if columns else f"({layer.n_out},)",
                    f"({layer.n_out}, {m})" if columns else f"({m}, {layer.n_out})",
                    f"{layer.n_params:,}",
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
        b = self.backend
        out = [f"Model on {b.name} ({b.device_str}, {b.dtype_name})" + (f" [{b.note}]" if b.note else "")]
        out += [line(rows[0]), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in rows[1:]]
        if columns:
            convention = "Z = W @ A_prev + b, A = g(Z); samples are columns: each array is the model's transposed"
        else:
            convention = "Z = A_prev @ W + b, A = g(Z); samples are rows"
        out.append(f"Total parameters: {self.n_params:,}   ({convention})")
        return "\n".join(out)

    # ----------------------------------------------------------------------------------------------
    def to(self, backend, device=None, dtype=None):
        """Move the model (parameters and optimizer state) to another backend / device / dtype, in place.

        Returns
        -------
        Model
            ``self``, for chaining.
        """
        old = self.backend
        new = Backend(backend, device=device, dtype=old.dtype_name if dtype is None else dtype, seed=None)
        new.set_rng_state(old.get_rng_state())  # the random stream continues where it was
        new.seed = old.seed
        params = [new.asarray(old.to_numpy(p)) for p in self.parameters()]
        state = optimizers.map_state(self.optimizer_state_, lambda a: new.from_host(old.to_numpy(a)))
        for layer in self.layers:
            layer.attach(new)
        self.set_parameters(params, check=False)
        self.optimizer_state_ = state
        self.backend = new
        return self

    def __deepcopy__(self, memo):
        header, arrays = self.get_state()
        b = self.backend
        copy = Model.from_state(header, arrays, backend=b.name, device=b.device, dtype=b.dtype_name)
        if self.solver_ is not None:
            # The same Solver object lets a later fit continue the optimizer state.
            copy.solver_ = self.solver_
        return copy

    # ----------------------------------------------------------------------------------------------
    # the model's full state: one description for saving, checkpoints and pickling
    def get_state(self):
        """The model's full state as a JSON-able header dict and a dict of NumPy arrays.

        The header holds the architecture (per layer :meth:`Layer.get_config`), dtype, seed, the Solver
        of the last fit (:meth:`Solver.get_config`), the optimizer state with its arrays replaced by
        references, the History and the random generator state. The arrays are ``W0, b0, W1, ...`` and
        ``state0, state1, ...`` (the optimizer state's arrays). :meth:`from_state` rebuilds the model.

        Raises
        ------
        ValueError
            When a component (activation, loss, optimizer, schedule) is not in its registry and so
            could not be rebuilt by name.
        """
        b = self.backend
        arrays = {}
        layers = []
        for i, layer in enumerate(self.layers):
            act = layer.activation
            if not activations.REGISTRY.is_registered(act):
                raise ValueError(
                    f"layers[{i}].activation {act!r} is not in the activation registry, so a saved model could not "
                    f"rebuild it; register it with anyarray_nn.activations.register (or use one of "
                    f"{activations.names()})."
                )
            layers.append(io.jsonable(layer.get_config(), f"layers[{i}] configuration"))
            arrays[f"W{i}"] = b.to_numpy(layer.W)
            arrays[f"b{i}"] = b.to_numpy(layer.b)
        state = None
        if self.optimizer_state_ is not None:
            state = io.encode_tree(self.optimizer_state_, arrays, "state", b.to_numpy)
        header = {
            "dtype": b.dtype_name,
            "saved_from": {"backend": b.name, "device": b.device_str},
            "seed": b.seed,
            "layers": layers,
            "solver": None if self.solver_ is None else io.jsonable(self.solver_.get_config(), "Solver configuration"),
            "optimizer_state": state,
            "history": None if self.history_ is None else io.jsonable(self.history_.as_dict(), "history"),
            "rng_state": io.jsonable(b.get_rng_state(), "random generator state"),
            "training": None,
        }
        return header, arrays

    @classmethod
    def from_state(cls, header, arrays, backend="auto", device=None, dtype=None, source="state"):
        """A model from :meth:`get_state`'s header and arrays, on any backend.

        Every field is checked against the architecture and its type before anything is built.

        Raises
        ------
        ModelFileError
            Naming ``source`` and the field that does not fit.
        """
        content = _State.parse(header, arrays, source)
        model = cls(
            content.layers, backend=backend, device=device, dtype=header["dtype"] if dtype is None else dtype,
            seed=header["seed"],
        )
        content.apply(model)
        return model


class _Snapshot:
    """What a resumed fit replaces (parameters, optimizer state, Solver, History, random state, and the
    position of the schedule of the Solver given to fit), to put back when that fit fails."""

    def __init__(self, model, solver):
        self.model = model
        self.params = model.parameters()
        self.state, self.solver, self.history = model.optimizer_state_, model.solver_, model.history_
        self.rng = copy.deepcopy(model.backend.get_rng_state())
        schedule = getattr(solver, "schedule", None)
        self.schedule = None if schedule is None else (schedule, dict(vars(schedule)))

    def restore(self):
        model = self.model
        model.set_parameters(self.params, check=False)
        model.optimizer_state_, model.solver_, model.history_ = self.state, self.solver, self.history
        model.backend.set_rng_state(self.rng)
        if self.schedule is not None:
            schedule, attributes = self.schedule
            vars(schedule).clear()
            vars(schedule).update(attributes)


class _State:
    """A model description (header and NumPy arrays) with every field checked and rebuilt.

    ``parse`` raises :class:`~anyarray_nn.ModelFileError` naming the source and the field; nothing of a
    model is touched until a parse has succeeded.
    """

    def __init__(self, header, layers, params, solver, state, history, source):
        self.header, self.layers, self.params = header, layers, params
        self.solver, self.state, self.history, self.source = solver, state, history, source

    @classmethod
    def parse(cls, header, arrays, source):
        def fail(why):
            raise io.ModelFileError(f"{source!r} is not a valid anyarray_nn model file: {why}")

        specs = header.get("layers")
        if not isinstance(specs, list) or not specs:
            fail("its header lists no layers.")
        layers = []
        for i, spec in enumerate(specs):
            try:
                layers.append(Layer.from_config(spec))
            except (TypeError, ValueError) as exc:
                fail(f"layer {i} of its header is invalid ({exc})")
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:])):
            if a.n_out != b.n_in:
                fail(f"its layers do not chain: layer {i} has n_out={a.n_out}, layer {i + 1} has n_in={b.n_in}.")
        expected = {}
        for i, layer in enumerate(layers):
            expected[f"W{i}"] = (i, layer, (layer.n_in, layer.n_out))
            expected[f"b{i}"] = (i, layer, (layer.n_out,))
        for name, (i, layer, shape) in expected.items():
            if name not in arrays:
                fail(f"array {name!r} of layer {i} is missing.")
            a = arrays[name]
            if tuple(a.shape) != shape or a.dtype.kind != "f":
                fail(
                    f"array {name!r} has shape {tuple(a.shape)} and dtype {a.dtype}, but layer {i} "
                    f"({layer.n_in} -> {layer.n_out}) needs a float array of shape {shape}."
                )
            if not io.all_finite(a):
                fail(f"array {name!r} holds NaN or infinite values.")
        stray = sorted(n for n in arrays if n not in expected and not (n.startswith("state") and n[5:].isdigit()))
        if stray:
            fail(f"it holds arrays {stray} that belong to no layer and no optimizer state.")
        params = [arrays[f"{p}{i}"] for i in range(len(layers)) for p in ("W", "b")]

        solver = None
        if header.get("solver") is not None:
            try:
                solver = Solver.from_config(header["solver"])
            except (TypeError, ValueError, KeyError) as exc:
                fail(f"its Solver cannot be rebuilt ({type(exc).__name__}: {exc})")
        state = None
        if header.get("optimizer_state") is not None:
            if solver is None:
                fail("it holds an optimizer state but no Solver.")
            try:
                state = io.decode_tree(header["optimizer_state"], arrays, "state")
            except ValueError as exc:
                fail(f"{exc}.")
            why = _state_mismatch(state, solver, params)
            if why:
                fail(f"its optimizer state does not fit the {solver.optimizer.name!r} optimizer and the layers: {why}.")
        used = set()
        _collect_refs(header.get("optimizer_state"), used)
        unused = sorted(n for n in arrays if n.startswith("state") and n not in used)
        if unused:
            fail(f"it holds optimizer arrays {unused} that its optimizer state does not refer to.")
        history = None
        if header.get("history") is not None:
            try:
                history = History.from_dict(header["history"])
            except (TypeError, ValueError) as exc:
                fail(f"its history is invalid ({exc})")
        if header.get("rng_state") is not None:
            why = rng_state_mismatch(header["rng_state"])
            if why:
                fail(f"its random generator state is invalid ({why}).")
        return cls(header, layers, params, solver, state, history, source)

    def check_range(self, dtype_name):
        """A ModelFileError when a value of the parameters or the optimizer state would overflow ``dtype_name``."""
        named = list(zip((f"{p}{i}" for i in range(len(self.layers)) for p in ("W", "b")), self.params))
        if self.state is not None:
            for key, value in self.state.items():
                if isinstance(value, list):
                    named += [(f"optimizer state {key!r}[{k}]", a) for k, a in enumerate(value)]
        for name, a in named:
            largest = io.overflows(a, dtype_name)
            if largest is not None:
                raise io.ModelFileError(
                    f"{self.source!r}: {name if name.startswith('optimizer') else f'array {name!r}'} holds values "
                    f"beyond {dtype_name}'s range (largest magnitude {largest:.3g}); load it with "
                    f"dtype='float64'."
                )

    def apply(self, model):
        """Put this state onto ``model``: parameters, Solver, optimizer state, History and random state.

        What can still fail (a value beyond the model's dtype, a move to its backend) happens before the
        first change.
        """
        backend = model.backend
        self.check_range(backend.dtype_name)
        params = [backend.asarray(a) for a in self.params]
        state = optimizers.map_state(self.state, backend.from_host)
        model.set_parameters(params, check=False)
        model.solver_ = self.solver
        model.optimizer_state_ = state
        model.history_ = self.history
        # The model continues the saved run: its seed too (data-parallel ranks derive their streams from it).
        backend.seed = self.header.get("seed")
        if self.header.get("rng_state") is not None:
            backend.set_rng_state(self.header["rng_state"])


def _collect_refs(tree, used):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            used.add(tree["__array__"])
            return
        for v in tree.values():
            _collect_refs(v, used)
    elif isinstance(tree, list):
        for v in tree:
            _collect_refs(v, used)


# No fit takes more steps: a larger count is damage (Adam's bias corrections read it as a Python int).
_MAX_STEPS = 2**53


def _state_mismatch(state, solver, params):
    """Why ``state`` cannot be the state of ``solver``'s optimizer for ``params`` ('' when it fits)."""
    if not isinstance(state, dict):
        return f"it is a {type(state).__name__}, not a dict"
    t = state.get("t")
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= _MAX_STEPS:
        return f"it lacks a valid step count 't' (an integer in [0, {_MAX_STEPS}])"
    # The state a fresh optimizer has for these (host) parameters: its entries and their shapes.
    reference = solver.optimizer.init_state(params, xp=io.HOST_XP)
    nonnegative = getattr(solver.optimizer, "nonnegative_state", ())
    if set(state) != set(reference):
        return f"it has the entries {sorted(state)}, the optimizer needs {sorted(reference)}"
    for key, expected in reference.items():
        if not isinstance(expected, list):
            continue
        got = state[key]
        if not isinstance(got, list) or len(got) != len(expected):
            return f"entry {key!r} must be a list of {len(expected)} arrays"
        for k, (g, e) in enumerate(zip(got, expected)):
            why = io.array_mismatch(g, tuple(e.shape), nonnegative=key in nonnegative)
            if why:
                return f"entry {key!r}[{k}] {why}"
    return ""


