"""The known errors of MATLAB's "Specify Custom Operation Backward Function" page, each shown by a test.

The functions and classes named ``Transcribed*`` / ``transcribed_*`` below are Python transcriptions of
the *logic* of the reference page's MATLAB code, written here for these tests (they are not library
code).  Each test shows the fault with the transcription and then checks that the library gets the
same thing right.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from srelu_lib import (
    BackwardError,
    DifferentiableFunction,
    SReLUFunction,
    dlarray,
    dlfeval,
    dlgradient,
    extractdata,
    gradcheck,
    srelu,
)
from srelu_lib.symbolic import numeric

NAMES = ("tl", "al", "tr", "ar")


# --- transcriptions of the reference's logic -------------------------------------------------
def transcribed_forward(X, tl, al, tr, ar):
    """The reference's forward: three masked pieces added together (transcription)."""
    return (
        (X <= tl) * (tl + al * (X - tl))
        + ((tl < X) & (X < tr)) * X
        + (tr <= X) * (tr + ar * (X - tr))
    )


def transcribed_dYdX(X, tl, al, tr, ar):
    """The reference's dY/dX by masked assignment, in its order; the last assignment wins (transcription)."""
    dYdX = np.zeros_like(X)
    dYdX[X <= tl] = al  # a per-channel al does not fit the selected elements
    dYdX[(tl < X) & (X < tr)] = 1
    dYdX[tr <= X] = ar
    return dYdX


class TranscribedOrderSReLU(DifferentiableFunction):
    """The reference's backward signature: outputs (X, tl, tr, al, ar) for inputs (X, tl, al, tr, ar),
    each output computed when the flag *at its output position* is set (transcription)."""

    def __init__(self):
        super().__init__(1, save_inputs_for_backward=True)

    def forward(self, X, tl, al, tr, ar):
        # "CB" data: per-channel parameters as C-by-1 columns, as MATLAB would hold them.
        return transcribed_forward(X, *(np.reshape(p, (-1, 1)) for p in (tl, al, tr, ar)))

    def backward(self, dLdY, compute_gradients, X, tl, al, tr, ar):
        tl_, al_, tr_, ar_ = (np.asarray(p).reshape(-1, 1) for p in (tl, al, tr, ar))
        dLdX = dLdtl = dLdtr = dLdal = dLdar = None
        if compute_gradients[0]:
            dLdX = dLdY * np.where(X <= tl_, al_, np.where(X < tr_, 1.0, ar_))
        if compute_gradients[1]:
            dLdtl = (dLdY * (X <= tl_) * (1 - al_)).sum(axis=1)  # C values, like MATLAB sum(..., idx)
        if compute_gradients[2]:  # al's flag, read for tr
            dLdtr = (dLdY * (tr_ <= X) * (1 - ar_)).sum(axis=1)  # C values, like MATLAB sum(..., idx)
        if compute_gradients[3]:  # tr's flag, read for al
            dLdal = (dLdY * (X <= tl_) * (X - tl_)).sum(axis=1)  # C values, like MATLAB sum(..., idx)
        if compute_gradients[4]:
            dLdar = (dLdY * (tr_ <= X) * (X - tr_)).sum(axis=1)  # C values, like MATLAB sum(..., idx)
        return dLdX, dLdtl, dLdtr, dLdal, dLdar  # the reference's output order


def transcribed_backward(_, dLdY, compute_gradients, X, tl, al, tr, ar):
    """The reference's backward header ignores its object (MATLAB ``~``) but its body reads
    ``fcn.Format`` (transcription: the object is the unused ``_``, the body reads ``fcn``)."""
    fmt = fcn.format  # noqa: F821  (exactly the reference's mistake: fcn is not defined here)
    return fmt


def case(seed=0, C=3, B=8, tl_gt_tr=False):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, (C, B))
    tl, tr = rng.uniform(-1.0, -0.2, C), rng.uniform(0.2, 1.0, C)
    if tl_gt_tr:
        tl, tr = tr, tl
    return X, {"tl": tl, "al": rng.uniform(0.1, 0.9, C), "tr": tr, "ar": rng.uniform(1.2, 2.5, C)}


# --- (1) the order of the gradients -----------------------------------------------------------
def test_1_reference_gradient_order_is_caught_by_gradcheck():
    X, p = case(1)
    inputs = [dlarray(X)] + [dlarray(p[n]) for n in NAMES]
    result = gradcheck(TranscribedOrderSReLU(), *inputs)
    assert not result.ok
    abs_err = dict(zip(("X", *NAMES), result.max_abs_error, strict=True))
    assert abs_err["X"] < 1e-6 and abs_err["tl"] < 1e-6 and abs_err["ar"] < 1e-6
    assert abs_err["al"] > 1e-2 and abs_err["tr"] > 1e-2  # swapped
    # The library returns them in input order.
    assert gradcheck(SReLUFunction("CB"), *inputs).ok


def test_1_reference_gradient_order_is_caught_by_shape_validation():
    X, p = case(2)
    inputs = [dlarray(X), dlarray(p["tl"]), dlarray(np.array(0.5)), dlarray(p["tr"]), dlarray(p["ar"])]

    def loss(X, tl, al, tr, ar):
        return dlgradient(TranscribedOrderSReLU()(X, tl, al, tr, ar).sum(), al, tr)

    with pytest.raises(BackwardError, match=r"gradient for input 2 has shape \(3,\); expected \(\)"):
        dlfeval(loss, *inputs)


def test_1_reference_reads_compute_gradients_in_the_wrong_order():
    X, p = case(3)
    fcn = TranscribedOrderSReLU()
    args = (X, *(p[n] for n in NAMES))
    dLdY = np.ones_like(X)
    only_al = [False, False, True, False, False]
    out = fcn.backward(dLdY, only_al, *args)
    right = SReLUFunction("CB").backward(dLdY, only_al, *args)
    assert out[2] is not None and right[2] is not None
    assert not np.allclose(out[2], right[2])  # the "al" slot holds dL/dtr
    np.testing.assert_allclose(out[2], SReLUFunction("CB").backward(dLdY, [0, 0, 0, 1, 0], *args)[3])


# --- (2) backward ignores its object but needs the format -----------------------------------------
def test_2_backward_without_its_object_cannot_know_the_channel_axis():
    X, p = case(4)
    with pytest.raises(NameError, match="fcn"):
        transcribed_backward(None, np.ones_like(X), [True] * 5, X, *(p[n] for n in NAMES))


def test_2_library_stores_the_format_on_the_object_and_uses_it():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 3))
    params = [rng.standard_normal(3) for _ in NAMES]
    dLdY = rng.standard_normal((3, 3))
    as_CB, as_BC = SReLUFunction("CB"), SReLUFunction("BC")
    assert as_CB.format == "CB" and as_BC.format == "BC"
    g_CB = as_CB.backward(dLdY, [True] * 5, x, *params)
    g_BC = as_BC.backward(dLdY.T, [True] * 5, x.T, *params)  # the same data, laid out the other way
    for a, b in zip(g_CB[1:], g_BC[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)  # per-channel sums over the right axis
    assert not np.allclose(g_CB[1], as_BC.backward(dLdY, [True] * 5, x, *params)[1])


# --- (3) masked assignment of a per-channel slope -----------------------------------------------
def test_3_masked_assignment_of_per_channel_al_raises():
    X, p = case(6, C=3, B=8)
    with pytest.raises(ValueError, match="boolean"):
        transcribed_dYdX(X, p["tl"][:, None], p["al"], p["tr"][:, None], p["ar"])


def test_3_masked_assignment_gives_wrong_values_when_counts_happen_to_match():
    # Exactly 3 elements (C = 3) satisfy x <= tl and 3 satisfy x >= tr, so NumPy assigns al and ar in
    # memory order - to the wrong channels.
    X = np.array([[-2.0, 0.0, 0.0, 0.0], [-2.0, -3.0, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0]])
    tl, al = np.full(3, -1.0), np.array([0.1, 0.2, 0.3])
    tr, ar = np.full(3, 1.0), np.array([1.5, 2.5, 3.5])
    wrong = transcribed_dYdX(X, tl[:, None], al, tr[:, None], ar)
    truth = numeric().dx(X, tl[:, None], al[:, None], tr[:, None], ar[:, None])
    assert not np.allclose(wrong, truth)
    dX = SReLUFunction("CB").backward(np.ones_like(X), [True, False, False, False, False], X, tl, al, tr, ar)[0]
    np.testing.assert_allclose(dX, truth)


def test_3_masked_assignment_is_right_only_for_scalar_slopes():
    X, p = case(7)
    tl, tr = p["tl"][:, None], p["tr"][:, None]
    scalar = transcribed_dYdX(X, tl, 0.4, tr, 1.6)
    truth = numeric().dx(X, tl, 0.4, tr, 1.6)
    np.testing.assert_allclose(scalar, truth)
    dX = SReLUFunction("CB").backward(np.ones_like(X), [True] + [False] * 4, X, p["tl"], 0.4, p["tr"], 1.6)[0]
    np.testing.assert_allclose(dX, truth)


# --- (4) tl > tr: the three-mask formula double counts ---------------------------------------------
def test_4_three_mask_forward_jumps_when_tl_above_tr():
    tl, al, tr, ar = 0.8, 0.5, -0.6, 2.0
    d = 1e-9
    x = np.array([tl, tl + d, tr - d, tr])
    y = transcribed_forward(x, tl, al, tr, ar)
    assert abs(y[1] - y[0]) == pytest.approx(abs(tl), rel=1e-6)  # jumps by tl at x = tl
    assert abs(y[3] - y[2]) == pytest.approx(abs(tr), rel=1e-6)  # and by tr at x = tr
    ours = extractdata(srelu(dlarray(x[None, :], "CB"), tl, al, tr, ar))[0]
    assert abs(ours[1] - ours[0]) < 1e-8 and abs(ours[3] - ours[2]) < 1e-8


def test_4_three_mask_backward_disagrees_with_its_own_forward_when_tl_above_tr():
    class TranscribedSReLU(DifferentiableFunction):
        """Reference forward and reference dY/dX (masked assignment, scalar parameters)."""

        def __init__(self):
            super().__init__(1, save_inputs_for_backward=True)

        def forward(self, X):
            return transcribed_forward(X, 0.8, 0.5, -0.6, 2.0)

        def backward(self, dLdY, compute_gradients, X):
            return dLdY * transcribed_dYdX(X, 0.8, 0.5, -0.6, 2.0)

    x = dlarray(np.array([-0.3, 0.0, 0.4, 0.7]))  # all inside tr <= x <= tl, away from kinks
    result = gradcheck(TranscribedSReLU(), x)
    assert not result.ok and result.kinks == 0
    ours = gradcheck(srelu, dlarray(extractdata(x)[None, :], "CB"), 0.8, 0.5, -0.6, 2.0)
    assert ours.ok and ours.kinks == 0


def test_4_library_with_tl_above_tr_gradchecks_per_channel():
    X, p = case(8, tl_gt_tr=True)
    assert np.all(p["tl"] > p["tr"])
    assert gradcheck(srelu, dlarray(X, "CB"), *(dlarray(p[n]) for n in NAMES)).ok


def test_4_three_mask_forward_computes_0_times_inf():
    # SReLU(+inf) should be +inf; the mask-times-piece product evaluates 0 * inf = NaN.
    with np.errstate(invalid="ignore"):
        y = transcribed_forward(np.array([np.inf]), -1.0, 0.5, 1.0, 1.0)
    assert np.isnan(y[0])
    assert extractdata(srelu(dlarray(np.array([[np.inf]]), "CB"), -1.0, 0.5, 1.0, 1.0))[0, 0] == np.inf


# --- (5) the citation ---------------------------------------------------------------------------
def test_5_library_cites_the_original_srelu_paper():
    doc = importlib.import_module("srelu_lib.srelu_function").__doc__
    assert "Jin" in doc and "2016" in doc and "arXiv:1512.07030" in doc
