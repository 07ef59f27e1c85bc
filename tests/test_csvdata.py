"""CSV files as data sets (anyarray_nn.csvdata) and the trained pipeline's file (anyarray_nn.pipeline)."""

import numpy as np
import pytest

import anyarray_nn as ann
from anyarray_nn import csvdata
from anyarray_nn import io as model_io
from anyarray_nn.csvdata import CSVError
from anyarray_nn.pipeline import Pipeline


def write(path, text):
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------------
# reading
@pytest.mark.parametrize(
    "lines, expected",
    [
        (["a,b,c", "1,2,3"], ","),
        (["a;b;c", "1,5;2,5;3"], ";"),  # decimal commas inside a ;-separated file
        (["a\tb", "1\t2"], "\t"),
        (["a|b|c", "1|2|3"], "|"),
        (["only", "1"], ","),
        (['"x;y",b', '"1;2",3'], ","),  # a quoted delimiter does not count
    ],
)
def test_the_delimiter_is_sniffed(lines, expected):
    assert csvdata.sniff_delimiter(lines) == expected


def test_semicolon_file_with_decimal_commas(tmp_path):
    path = write(tmp_path / "d.csv", "id;x;y;label\nr1;1,5;-2,25e1;a\nr2;3;4,0;b\nr3;0,5;1;a\n")
    data = csvdata.load_csv(path, target="label", id_column="id")
    assert data.delimiter == ";"
    np.testing.assert_array_equal(data.X, [[1.5, -22.5], [3.0, 4.0], [0.5, 1.0]])
    assert data.class_names == ["a", "b"] and data.y.tolist() == [0, 1, 0]
    assert data.ids == ["r1", "r2", "r3"] and data.feature_names == ["x", "y"]
    assert not data.target_guessed and data.task_guessed


def test_a_comma_file_takes_no_decimal_comma(tmp_path):
    path = write(tmp_path / "d.csv", 'x,y\n"1,5",1\n2,0\n')
    with pytest.raises(CSVError, match=r"Column 'x' of .* line 2 holds '1,5', which is not a number"):
        csvdata.load_csv(path)


def test_an_empty_cell_is_reported_with_its_line_and_column(tmp_path):
    path = write(tmp_path / "d.csv", "a,b,y\n1,2,0\n\n3,,1\n4,NA,0\n5,6,?\n7,8,1\n")
    with pytest.raises(CSVError) as info:
        csvdata.load_csv(path)
    message = str(info.value)
    # The blank line 3 is skipped, but lines keep their numbers in the file.
    assert "line 4, column 'b': an empty cell" in message
    assert "3 row(s) have missing cells (lines 4, 5, 6)" in message and "drop_missing=True" in message
    data = csvdata.load_csv(path, drop_missing=True)
    assert data.dropped_lines == [4, 5, 6] and data.X.tolist() == [[1.0, 2.0], [7.0, 8.0]]


def test_missing_cells_of_ignored_columns_do_not_count(tmp_path):
    path = write(tmp_path / "d.csv", "note,a,y\n,1,0\nhello,2,1\n,3,0\n")
    data = csvdata.load_csv(path, ignore=["note"])
    assert data.feature_names == ["a"] and data.ignored == ["note"] and data.dropped_lines == []


def test_column_errors_name_the_role_and_list_the_columns(tmp_path):
    path = write(tmp_path / "d.csv", "a,b,y\n1,2,0\n3,4,1\n")
    for kwargs, role in (({"target": "z"}, "the target"), ({"ignore": ["q"]}, "a column to ignore"),
                         ({"id_column": "key"}, "the ID column")):
        with pytest.raises(CSVError, match=rf"is not in .* \(asked for as {role}\); its columns are: a, b, y\."):
            csvdata.load_csv(path, **kwargs)
    with pytest.raises(CSVError, match="is also the ID column or ignored"):
        csvdata.load_csv(path, target="a", ignore=["a"])


def test_infinite_values_and_text_are_refused_by_line(tmp_path):
    path = write(tmp_path / "d.csv", "a,y\n1,0\ninf,1\n")
    with pytest.raises(CSVError, match="line 3 holds 'inf', which is not finite"):
        csvdata.load_csv(path)


def test_table_shape_errors(tmp_path):
    with pytest.raises(CSVError, match="line 3 has 1 values, but the header has 2 columns"):
        csvdata.read_csv(write(tmp_path / "r.csv", "a,b\n1,2\n3\n"))
    with pytest.raises(CSVError, match="header row and at least one data row"):
        csvdata.read_csv(write(tmp_path / "e.csv", "a,b\n"))
    with pytest.raises(CSVError, match="more than one column named 'a'"):
        csvdata.read_csv(write(tmp_path / "d.csv", "a,a\n1,2\n"))
    with pytest.raises(CSVError, match="CSV file not found"):
        csvdata.read_csv(tmp_path / "none.csv")


def test_regression_and_numeric_classes(tmp_path):
    rows = "\n".join(f"{i},{i * 0.37:.3f}" for i in range(40))
    data = csvdata.load_csv(write(tmp_path / "r.csv", "x,y\n" + rows + "\n"))
    assert data.task == "regression" and data.target_guessed and data.class_names is None
    data = csvdata.load_csv(write(tmp_path / "c.csv", "x,y\n1,2\n2,1.0\n3,2\n"))
    assert data.task == "classification" and data.class_names == ["1", "2"]
    assert csvdata.canonical_label("2.0", data.class_names) == "2"


# --------------------------------------------------------------------------------------------------
# the trained pipeline
def _pipeline(task="classification"):
    X, y = ann.datasets.load_iris()
    if task == "classification":
        model = ann.Model([ann.Layer(4, 6, "tanh"), ann.Layer(6, 3, "softmax")], backend="numpy", seed=0)
        target = y
    else:
        model = ann.Model([ann.Layer(4, 6, "tanh"), ann.Layer(6, 1, "linear")], backend="numpy", seed=0)
        target = X[:, 3]
    mean, scale = X.mean(axis=0), X.std(axis=0)
    fit_target = target if task == "classification" else (target - 1.2) / 0.7
    model.fit((X - mean) / scale, fit_target, settings=ann.Settings(epochs=3, verbose=0))
    names = ["sepal length", "sepal width", "petal length", "petal width"]
    kwargs = dict(class_names=["setosa", "versicolor", "virginica"]) if task == "classification" else dict(
        target_mean=1.2, target_scale=0.7)
    return Pipeline(model, names, mean, scale, task=task, target="species", id_column="row", **kwargs), X


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_pipeline_round_trip(tmp_path, task):
    pipe, X = _pipeline(task)
    pipe.save(tmp_path / "p.npz")
    again = Pipeline.load(tmp_path / "p.npz", backend="numpy")
    assert again.to_record() == pipe.to_record()
    np.testing.assert_array_equal(again.predict(X), pipe.predict(X))
    if task == "classification":
        assert again.predict_names(X[:2]) == pipe.predict_names(X[:2])
        np.testing.assert_allclose(again.predict_proba(X).sum(axis=1), 1.0, rtol=1e-5)
    else:
        Xs = (X - pipe.scaler_mean) / pipe.scaler_scale
        np.testing.assert_allclose(again.predict(X)[:, 0], ann.to_numpy(pipe.model.predict(Xs)).reshape(-1) * 0.7 + 1.2,
                                   rtol=1e-6)
    # The same file is a plain model file too.
    assert ann.load(tmp_path / "p.npz").n_features == 4


def test_a_plain_model_file_is_not_a_pipeline(tmp_path):
    pipe, _ = _pipeline()
    ann.save(pipe.model, tmp_path / "m.npz")
    with pytest.raises(ann.ModelFileError, match="holds a model but no pipeline"):
        Pipeline.load(tmp_path / "m.npz")


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(feature_names=["a", "b"]), r"'feature_names' must be a list of 4 column names"),
        (dict(scaler_scale=[1.0, 0.0, 1.0, 1.0]), r"'scaler.scale' must be a list of 4 positive finite numbers"),
        (dict(class_names=["a", "b"]), r"'class_names' must be a list of 3 class names"),
        (dict(task="clustering"), r"'task' must be one of \['classification', 'regression'\]"),
        (dict(id_column="a"), r"'id_column' must be None or a column name other than the features"),
    ],
)
def test_pipeline_arguments_are_checked_by_name(kwargs, pattern):
    model = ann.Model([ann.Layer(4, 3, "softmax")], backend="numpy", seed=0)
    arguments = dict(feature_names=["a", "b", "c", "d"], scaler_mean=[0.0] * 4, scaler_scale=[1.0] * 4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        Pipeline(model, arguments.pop("feature_names"), arguments.pop("scaler_mean"), arguments.pop("scaler_scale"),
                 **arguments)


def test_a_damaged_pipeline_entry_names_the_file_and_field(tmp_path):
    pipe, _ = _pipeline()
    pipe.save(tmp_path / "p.npz")
    header, arrays = model_io.read_model_file(tmp_path / "p.npz")
    header["pipeline"]["scaler"]["mean"][2] = float("nan")
    for key in ("format", "format_version", "library_version", "arrays"):
        header.pop(key)
    model_io.write_model_file(tmp_path / "p.npz", header, arrays)
    with pytest.raises(ann.ModelFileError, match=r"p\.npz' is not a valid anyarray_nn pipeline: 'scaler.mean'"):
        Pipeline.load(tmp_path / "p.npz")
