"""Unit tests for formatted arrays: ``dlarray``, ``dims``, ``finddim``, ``stripdims``, ``extractdata``.

The contract under test is MATLAB's: labels S C B T U, at most one each of C, B, T, and data
stored in the canonical order S..., C, B, T, U... (the data is permuted to match the labels).
"""

from __future__ import annotations

import numpy as np
import pytest

from srelu_lib import DLArray, dims, dlarray, dlfeval, dlgradient, extractdata, finddim, stripdims


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- labels and format validation ----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["S", "C", "B", "T", "U", "SSCB", "SSSCBTUU", "UUU", "CBT"])
def test_every_valid_format_is_accepted(fmt):
    X = dlarray(np.zeros((2,) * len(fmt)), fmt)
    assert sorted(dims(X)) == sorted(fmt)
    assert X.ndim == len(fmt)


@pytest.mark.parametrize("fmt", ["CC", "SCBB", "TST", "CSC", "BUB"])
def test_more_than_one_C_B_or_T_raises(fmt):
    with pytest.raises(ValueError, match="more than one"):
        dlarray(np.zeros((2,) * len(fmt)), fmt)


@pytest.mark.parametrize("fmt", ["X", "SSCx", "s", "cb", "S C", "SSCN"])
def test_invalid_label_raises_value_error(fmt):
    with pytest.raises(ValueError, match="invalid label"):
        dlarray(np.zeros((1,) * len(fmt)), fmt)


def test_non_string_format_raises_type_error():
    with pytest.raises(TypeError, match="fmt"):
        dlarray(np.zeros(3), 3)  # type: ignore[arg-type]


def test_format_shorter_than_ndim_raises():
    with pytest.raises(ValueError, match="one label per dimension"):
        dlarray(np.zeros((2, 3, 4)), "SC")


def test_empty_format_gives_unformatted_array_with_data_unchanged():
    data = _rng().standard_normal((2, 3, 4))
    X = dlarray(data)
    assert dims(X) == ""
    assert X.shape == (2, 3, 4)
    np.testing.assert_array_equal(extractdata(X), data)


# --- canonical order and permutation ---------------------------------------------------------------
def test_TS_becomes_ST_with_shape_swapped():
    X = dlarray(np.zeros((3, 4)), "TS")
    assert dims(X) == "ST"
    assert X.shape == (4, 3)


@pytest.mark.parametrize(
    "fmt, perm, canonical",
    [
        ("TS", (1, 0), "ST"),
        ("BC", (1, 0), "CB"),
        ("CBSS", (2, 3, 0, 1), "SSCB"),
        ("BSCS", (1, 3, 2, 0), "SSCB"),
        ("UTBCS", (4, 3, 2, 1, 0), "SCBTU"),
        ("USUS", (1, 3, 0, 2), "SSUU"),
        ("SCBT", (0, 1, 2, 3), "SCBT"),
    ],
)
def test_values_land_where_np_transpose_puts_them(fmt, perm, canonical):
    shape = tuple(range(2, 2 + len(fmt)))  # distinct sizes, so a wrong permutation changes the shape
    data = _rng(1).standard_normal(shape)
    X = dlarray(data, fmt)
    assert dims(X) == canonical
    assert X.shape == tuple(shape[p] for p in perm)
    np.testing.assert_array_equal(extractdata(X), np.transpose(data, perm))


def test_permutation_checked_element_by_element():
    data = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)  # labelled B, S, C
    X = dlarray(data, "BSC")  # canonical: S C B
    stored = extractdata(X)
    for b in range(2):
        for s in range(3):
            for c in range(4):
                assert stored[s, c, b] == data[b, s, c]


def test_several_S_keep_their_relative_order():
    data = _rng(2).standard_normal((2, 3, 5))
    X = dlarray(data, "SCS")  # the two S dims (sizes 2 and 5) stay in order: S S C
    assert X.shape == (2, 5, 3)
    np.testing.assert_array_equal(extractdata(X), np.transpose(data, (0, 2, 1)))


# --- trailing singleton padding -----------------------------------------------------------------------
def test_format_longer_than_ndim_pads_trailing_singletons():
    data = _rng(3).standard_normal((4, 3))
    X = dlarray(data, "SSCB")
    assert X.shape == (4, 3, 1, 1)
    np.testing.assert_array_equal(extractdata(X)[:, :, 0, 0], data)


def test_padding_then_permutation():
    data = np.arange(3.0)
    X = dlarray(data, "CBS")  # (3,) -> (3, 1, 1) labelled C B S -> S C B
    assert dims(X) == "SCB"
    assert X.shape == (1, 3, 1)
    np.testing.assert_array_equal(extractdata(X)[0, :, 0], data)


def test_scalar_with_format():
    X = dlarray(5.0, "CB")
    assert X.shape == (1, 1)
    assert dims(X) == "CB"
    assert extractdata(X)[0, 0] == 5.0


# --- dtypes -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64_kept_without_copy(dtype):
    data = np.ones((2, 3), dtype=dtype)
    X = dlarray(data, "CB")  # already canonical: no permutation needed
    assert X.dtype == dtype
    assert np.shares_memory(extractdata(X), data)  # a read-only view, not a copy
    assert not extractdata(X).flags.writeable and data.flags.writeable
    Y = dlarray(data)
    assert np.shares_memory(extractdata(Y), data)


def test_permuted_data_is_a_copy_not_aliasing_input():
    data = np.ones((2, 3))
    X = dlarray(data, "BC")
    data[0, 0] = 7.0
    assert extractdata(X)[0, 0] == 1.0


@pytest.mark.parametrize(
    "data, expected",
    [
        (np.array([True, False]), np.float64),
        (np.array([1, 2, 3], dtype=np.int8), np.float64),
        (np.array([1, 2, 3], dtype=np.int64), np.float64),
        (np.array([1, 2, 3], dtype=np.uint16), np.float64),
        (np.array([1.5, 2.5], dtype=np.float16), np.float32),
        ([1, 2, 3], np.float64),
        ([1.0, 2.0], np.float64),
        (3, np.float64),
        (2.5, np.float64),
        (True, np.float64),
    ],
)
def test_dtype_conversion(data, expected):
    X = dlarray(data)
    assert X.dtype == expected
    np.testing.assert_array_equal(extractdata(X), np.asarray(data).astype(expected))


@pytest.mark.parametrize(
    "data",
    [
        np.array([1 + 2j, 3j]),
        np.array([1.0, 2.0], dtype=np.complex64),
        np.array([object(), object()], dtype=object),
        np.array(["a", "b"]),
        "text",
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ],
)
def test_non_real_data_raises_type_error(data):
    with pytest.raises(TypeError, match="real numeric"):
        dlarray(data)


def test_float16_values_preserved_as_float32():
    data = np.array([0.5, -1.25, 3.0], dtype=np.float16)
    np.testing.assert_array_equal(extractdata(dlarray(data)), data.astype(np.float32))


# --- dims / finddim ------------------------------------------------------------------------------------
def test_finddim_positions_in_canonical_order():
    X = dlarray(np.zeros((5, 3, 2, 2)), "BCSS")
    assert dims(X) == "SSCB"
    assert finddim(X, "S") == (0, 1)
    assert finddim(X, "C") == (2,)
    assert finddim(X, "B") == (3,)


@pytest.mark.parametrize("label", ["T", "U"])
def test_finddim_valid_but_absent_label_is_empty(label):
    X = dlarray(np.zeros((2, 2, 3, 5)), "SSCB")
    assert finddim(X, label) == ()


def test_finddim_on_unformatted_array_is_empty():
    assert finddim(dlarray(np.zeros((2, 3))), "S") == ()


@pytest.mark.parametrize("label", ["X", "s", "SC", "", 1, None])
def test_finddim_invalid_label_raises(label):
    with pytest.raises(ValueError, match="label"):
        finddim(dlarray(np.zeros((2, 3)), "CB"), label)


@pytest.mark.parametrize("fn", [dims, lambda x: finddim(x, "S"), stripdims])
@pytest.mark.parametrize("bad", [np.zeros((2, 3)), [1.0, 2.0], 3.0])
def test_dims_finddim_stripdims_reject_non_dlarray(fn, bad):
    with pytest.raises(TypeError, match="DLArray"):
        fn(bad)


# --- stripdims -------------------------------------------------------------------------------------------
def test_stripdims_keeps_data_drops_format():
    X = dlarray(_rng(4).standard_normal((2, 3, 4)), "SCB")
    Y = stripdims(X)
    assert isinstance(Y, DLArray)
    assert dims(Y) == ""
    assert extractdata(Y) is extractdata(X)
    assert dims(X) == "SCB"  # X itself untouched


def test_stripdims_is_traced_inside_dlfeval_and_gradient_flows():
    rng = _rng(5)
    W = rng.standard_normal((3, 2))

    def loss_fn(X):
        Y = stripdims(X)
        assert Y.is_traced
        loss = (Y * W).sum()
        return loss, dlgradient(loss, X)

    X = dlarray(rng.standard_normal((2, 3)), "BC")  # stored as (3, 2) "CB"
    _, dX = dlfeval(loss_fn, X)
    assert dims(dX) == "CB"
    np.testing.assert_allclose(extractdata(dX), W)


# --- extractdata / np.asarray --------------------------------------------------------------------------------
def test_extractdata_returns_the_stored_array():
    data = _rng(6).standard_normal((3, 2))
    X = dlarray(data, "BC")
    out = extractdata(X)
    assert isinstance(out, np.ndarray) and not isinstance(out, DLArray)
    np.testing.assert_array_equal(out, data.T)
    assert extractdata(X) is out  # the stored array, not a fresh copy each time


@pytest.mark.parametrize("plain", [np.arange(3.0), [1.0, 2.0], 4.5])
def test_extractdata_on_plain_values(plain):
    out = extractdata(plain)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, np.asarray(plain))


def test_np_asarray_of_dlarray():
    data = _rng(7).standard_normal((2, 3))
    X = dlarray(data, "CB")
    arr = np.asarray(X)
    assert type(arr) is np.ndarray
    np.testing.assert_array_equal(arr, data)
    assert np.asarray(X, dtype=np.float32).dtype == np.float32
    copied = np.array(X, copy=True)
    copied[0, 0] = 99.0
    assert extractdata(X)[0, 0] == data[0, 0]


# --- comparisons, repr, misc ------------------------------------------------------------------------------------
def test_comparisons_return_boolean_ndarrays():
    X = dlarray(np.array([-1.0, 0.0, 2.0]))
    Y = dlarray(np.array([0.0, 0.0, 0.0]))
    cases = {
        "lt": (X < 0, np.array([True, False, False])),
        "le": (X <= 0, np.array([True, True, False])),
        "gt": (X > Y, np.array([False, False, True])),
        "ge": (X >= Y, np.array([False, True, True])),
        "eq": (X == 0.0, np.array([False, True, False])),
        "ne": (X != 0.0, np.array([True, False, True])),
        "reflected": (0.0 < X, np.array([False, False, True])),
        "ndarray_left": (np.zeros(3) < X, np.array([False, False, True])),
    }
    for name, (got, want) in cases.items():
        assert type(got) is np.ndarray, name
        assert got.dtype == bool, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_comparison_mask_indexes_the_array():
    X = dlarray(np.array([-1.0, 3.0, 2.0]))
    np.testing.assert_array_equal(extractdata(X[X > 0]), [3.0, 2.0])


def test_dlarray_is_hashable_by_identity():
    X, Y = dlarray(np.zeros(2)), dlarray(np.zeros(2))
    assert len({X, Y, X}) == 2


def test_repr_shows_values_format_dtype():
    X = dlarray(np.array([[1.5, -2.0]], dtype=np.float32), "CB")
    text = repr(X)
    assert text.startswith("DLArray(")
    assert "1.5" in text and "-2." in text
    assert "fmt='CB'" in text
    assert "float32" in text
    assert "traced" not in text
    assert "fmt=" not in repr(dlarray(np.zeros(2)))


def test_repr_marks_traced_arrays():
    seen = {}

    def f(X):
        seen["inside"] = repr(X)
        return X

    out = dlfeval(f, dlarray(np.zeros(2)))
    assert "traced" in seen["inside"]
    assert "traced" not in repr(out)


def test_shape_properties():
    X = dlarray(np.zeros((2, 3, 4), dtype=np.float32), "SCB")
    assert (X.shape, X.ndim, X.size, X.nbytes, len(X)) == ((2, 3, 4), 3, 24, 96, 2)
    assert X.fmt == "SCB"


def test_float_of_scalar():
    assert float(dlarray(2.5)) == 2.5


def test_float_of_size_one_array():
    assert float(dlarray(np.array([[2.5]]), "CB")) == 2.5


# --- relabelling ---------------------------------------------------------------------------------------------------
def test_relabel_formatted_array_with_other_format_raises():
    X = dlarray(np.zeros((2, 3)), "CB")
    with pytest.raises(ValueError, match="already formatted"):
        dlarray(X, "SB")
    with pytest.raises(ValueError, match="already formatted"):
        dlarray(X, "BC")  # same labels, other order: still a re-labelling


def test_relabel_formatted_array_with_same_format_or_empty_returns_it():
    X = dlarray(np.zeros((2, 3)), "CB")
    assert dlarray(X, "CB") is X
    assert dlarray(X) is X


def test_label_unformatted_dlarray_permutes():
    data = _rng(8).standard_normal((2, 3))
    X = dlarray(dlarray(data), "BC")
    assert dims(X) == "CB"
    np.testing.assert_array_equal(extractdata(X), data.T)


def test_label_unformatted_dlarray_validates_format():
    with pytest.raises(ValueError, match="more than one"):
        dlarray(dlarray(np.zeros((2, 3))), "CC")
    with pytest.raises(ValueError, match="invalid label"):
        dlarray(dlarray(np.zeros((2, 3))), "CQ")


def test_stripdims_then_relabel_round_trip():
    data = _rng(9).standard_normal((4, 3, 2))
    X = dlarray(data, "SCB")
    Y = dlarray(stripdims(X), dims(X))
    assert dims(Y) == dims(X)
    np.testing.assert_array_equal(extractdata(Y), extractdata(X))


def test_relabel_of_traced_unformatted_array_carries_gradient():
    rng = _rng(10)
    W = rng.standard_normal((3, 2))  # in canonical "CB" layout

    def loss_fn(x):
        X = dlarray(x, "BC")  # x is (2, 3) laid out B, C
        assert dims(X) == "CB" and X.is_traced
        loss = (X * W).sum()
        return dlgradient(loss, x)

    g = dlfeval(loss_fn, dlarray(rng.standard_normal((2, 3))))
    assert dims(g) == ""
    np.testing.assert_allclose(extractdata(g), W.T)


@pytest.mark.parametrize(
    "data, fmt, error, match",
    [
        (np.arange(3), "", TypeError, "float32 or float64"),  # int data
        (np.arange(3.0), "CB", ValueError, "2 label"),  # two labels for one dimension
        (np.ones((2, 3)), "C", ValueError, "one label per dimension"),
        (np.ones((2, 3)), "BC", ValueError, "canonical order"),
        (np.ones((2, 3)), "CX", ValueError, "invalid label"),
        (np.ones(3, np.complex128), "", TypeError, "float32 or float64"),
        ([1.0, 2.0], "", TypeError, "float32 or float64"),
    ],
)
def test_low_level_constructor_checks_its_data_and_format(data, fmt, error, match):
    with pytest.raises(error, match=match):
        DLArray(data, fmt)


def test_low_level_constructor_stores_a_read_only_view():
    data = np.ones((2, 3))
    X = DLArray(data, "CB")
    assert np.shares_memory(extractdata(X), data)
    assert not extractdata(X).flags.writeable and data.flags.writeable


def test_dlarray_of_converted_data_owns_a_read_only_copy():
    X = dlarray([1, 2, 3])
    assert not extractdata(X).flags.writeable and extractdata(X).base is None
