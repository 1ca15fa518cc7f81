"""Evaluation of usability networks: accuracy against confidence, confusion matrix.

A "confidence" cut ``f`` keeps the fields the network is sure about either
way: ``p >= f`` (usable) or ``p <= 1 - f`` (not usable), i.e.
``max(p, 1 - p) >= f``. At ``f = 0.5`` every field is kept, and fewer are
kept as ``f`` grows, as in the table of Duckworth et al. (2020). Accuracy is
always that of the binary verdict ``p > threshold`` (0.5 by default) on the kept fields.
"""

import numpy as np

__all__ = [
    "evaluate",
    "confusion_matrix",
    "reliability",
    "calibration_error",
    "CONFIDENCES",
]

CONFIDENCES = (0.5, 0.8, 0.95, 0.99)
"""The confidence cuts of Duckworth et al. (2020)."""


def _probabilities(model, x):
    """p(use) of each sample: predicted by ``model``, or ``x`` itself when ``model`` is None."""
    if model is None:
        p = np.asarray(x, dtype=np.float64)
        if p.ndim != 1:
            raise ValueError("with model=None, x must be a 1-D array of probabilities")
        return p
    from ._classify import load_model
    from ._model import ModelInput

    net = load_model(model)
    if isinstance(x, ModelInput):
        return net.predict(x.x, x.extra).astype(np.float64)
    return net.predict(x).astype(np.float64)


def _labels(y, n):
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have one label per sample ({n}), not shape {y.shape}")
    if y.dtype != bool and not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels must be binary: 0/False (don't use) or 1/True (use)")
    return y.astype(bool)


def evaluate(model, x, y, confidences=CONFIDENCES, threshold=0.5):
    """Accuracy and fraction of fields kept at each confidence cut.

    Parameters
    ----------
    model : str, path-like, `UsabilityModel` or None
        The network (see `load_model`); None when ``x`` already holds the
        probabilities.
    x : array-like or `~kinmisalign.classifier.ModelInput`
        Network input (``(n, 32, 32, 1)`` for the published network, or the
        model's `~kinmisalign.classifier.UsabilityModel.prepare` output), or
        probabilities ``(n,)`` when ``model`` is None. Samples whose probability is NaN (fields that
        could not be classified) are left out and counted in
        ``meta['n_unclassified']``.
    y : array-like of bool or {0, 1}
        True labels: usable or not.
    confidences : sequence of float, optional
        Cuts ``f`` in [0.5, 1]: a field is kept when ``max(p, 1 - p) >= f``.
    threshold : float, optional
        A field is predicted usable when ``p > threshold``.

    Returns
    -------
    `~astropy.table.Table`
        One row per cut: ``confidence``, ``n_kept``, ``fraction_kept`` and
        ``accuracy`` (NaN when nothing is kept). ``meta`` holds ``n``,
        ``n_unclassified``, ``threshold`` and ``baseline_accuracy`` (the
        accuracy of always answering "use").

    Examples
    --------
    >>> from kinmisalign.classifier import evaluate
    >>> t = evaluate(None, [0.9, 0.6, 0.3, 0.01], [1, 0, 0, 0], confidences=(0.5, 0.8))
    >>> t["n_kept"].tolist(), t["accuracy"].tolist()
    ([4, 3], [0.75, 1.0])
    """
    from astropy.table import Table

    p = _probabilities(model, x)
    labels = _labels(y, len(p))
    classified = np.isfinite(p)
    p, labels = p[classified], labels[classified]
    confidence = np.maximum(p, 1.0 - p)
    rows = []
    for f in confidences:
        f = float(f)
        if not 0.5 <= f <= 1.0:
            raise ValueError(f"confidences must lie in [0.5, 1], not {f}")
        kept = confidence >= f if f > 0.5 else np.ones(p.size, dtype=bool)
        n_kept = int(kept.sum())
        correct = (p[kept] > threshold) == labels[kept]
        rows.append((f, n_kept, n_kept / p.size if p.size else np.nan,
                     float(correct.mean()) if n_kept else np.nan))
    table = Table(rows=rows, names=("confidence", "n_kept", "fraction_kept", "accuracy"),
                  dtype=(np.float64, np.int64, np.float64, np.float64))
    table["confidence"].description = "Cut f: fields with max(p, 1 - p) >= f are kept"
    table["n_kept"].description = "Fields kept"
    table["fraction_kept"].description = "Fraction of the classified fields kept"
    table["accuracy"].description = f"Accuracy of p > {threshold:g} on the kept fields"
    table.meta.update(n=int(p.size), n_unclassified=int((~classified).sum()),
                      threshold=float(threshold),
                      baseline_accuracy=float(labels.mean()) if p.size else np.nan)
    return table


def confusion_matrix(y, p, threshold=0.5):
    """Confusion matrix of binary usability verdicts.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        True labels.
    p : array-like
        Probabilities (``p > threshold`` is "use") or boolean predictions.
        NaN probabilities are left out.
    threshold : float, optional

    Returns
    -------
    numpy.ndarray
        int64 ``(2, 2)``: rows actual, columns predicted, index 0 "don't use"
        and 1 "use".
    """
    p = np.asarray(p)
    labels = _labels(y, len(p))
    if p.dtype == bool:
        predicted = p
        ok = np.ones(p.size, dtype=bool)
    else:
        p = p.astype(np.float64)
        ok = np.isfinite(p)
        predicted = p > threshold
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (labels[ok].astype(int), predicted[ok].astype(int)), 1)
    return matrix


def reliability(y, p, bins=10):
    """Observed frequency of usable fields against the predicted probability.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        True labels.
    p : array-like
        Probabilities p(use); NaN values are left out.
    bins : int, optional
        Equal-width bins over [0, 1] (p = 1 falls in the last).

    Returns
    -------
    `~astropy.table.Table`
        One row per bin: ``p_low``, ``p_high``, ``n``, ``p_mean`` (mean
        probability) and ``observed`` (fraction of usable fields; NaN in
        empty bins), with ``stderr``, the binomial standard error of
        ``observed`` at ``p_mean``.
    """
    from astropy.table import Table

    p = np.asarray(p, dtype=np.float64)
    labels = _labels(y, len(p))
    ok = np.isfinite(p)
    p, labels = p[ok], labels[ok]
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, int(bins) - 1)
    n = np.bincount(index, minlength=int(bins))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_mean = np.bincount(index, p, minlength=int(bins)) / n
        observed = np.bincount(index, labels, minlength=int(bins)) / n
        stderr = np.sqrt(p_mean * (1.0 - p_mean) / n)
    table = Table([edges[:-1], edges[1:], n, p_mean, observed, stderr],
                  names=("p_low", "p_high", "n", "p_mean", "observed", "stderr"))
    table["observed"].description = "Fraction of the bin's fields that are usable"
    table["p_mean"].description = "Mean predicted probability in the bin"
    return table


def calibration_error(y, p, bins=10):
    """Expected calibration error: the mean absolute gap between observed and predicted, by bin.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        True labels.
    p : array-like
        Probabilities p(use); NaN values are left out.
    bins : int, optional
        Equal-width bins over [0, 1].

    Returns
    -------
    float

    Examples
    --------
    >>> from kinmisalign.classifier import calibration_error
    >>> round(calibration_error([1, 1, 0, 0], [0.9, 0.7, 0.2, 0.4], bins=2), 3)
    0.2
    """
    table = reliability(y, p, bins)
    used = table["n"] > 0
    n = np.asarray(table["n"][used], dtype=np.float64)
    gap = np.abs(np.asarray(table["observed"][used]) - np.asarray(table["p_mean"][used]))
    return float(np.sum(n * gap) / n.sum()) if n.sum() else float("nan")
