"""Figures of a usability network's performance.

Matplotlib is imported inside the functions (object-oriented API: figures
are created with `matplotlib.figure.Figure`, no pyplot state), so the
module costs nothing until a figure is drawn.
"""

import numpy as np

from .evaluation import confusion_matrix, reliability

__all__ = [
    "plot_confusion_matrix",
    "plot_usability_histogram",
    "plot_probability_by_quality",
    "plot_reliability_diagram",
    "CLASS_LABELS",
    "QUALITY_LABELS",
]

CLASS_LABELS = ("don't use", "use")
"""Labels of the two classes, index 0 and 1."""

QUALITY_LABELS = ("do not use (0)", "messy (1)", "clean (2)")
"""Labels of the expert qualities 0, 1 and 2 (SPEC section 5)."""


def _axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_confusion_matrix(y, p, threshold=0.5, normalize=False, ax=None, title=None,
                          cmap="Blues", colorbar=True):
    """Draw the confusion matrix of usability verdicts.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        True labels.
    p : array-like
        Probabilities or boolean predictions (see `confusion_matrix`).
    threshold : float, optional
        A field is predicted usable when ``p > threshold``.
    normalize : bool, optional
        Show each row as fractions of the actual class.
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in; default a new figure.
    title : str, optional
        Axes title.
    cmap : str, optional
        Colour map.
    colorbar : bool, optional
        Draw a colour bar beside the matrix.

    Returns
    -------
    `~matplotlib.figure.Figure`
        Rows actual, columns predicted, labelled "don't use" and "use".
    """
    matrix = confusion_matrix(y, p, threshold=threshold)
    shown = matrix.astype(float)
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0)
    fig, ax = _axes(ax, (4.0, 3.6))
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=shown.max() if shown.max() > 0 else 1)
    for (i, j), count in np.ndenumerate(matrix):
        text = f"{shown[i, j]:.2f}\n({count})" if normalize else f"{count}"
        light = shown[i, j] > 0.6 * shown.max()
        ax.text(j, i, text, ha="center", va="center", color="white" if light else "black")
    ax.set_xticks([0, 1], CLASS_LABELS)
    ax.set_yticks([0, 1], CLASS_LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def plot_usability_histogram(y, p, threshold=0.5, bins=20, ax=None, title=None):
    """Histogram of actual labels, network probabilities and binary predictions.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        True labels.
    p : array-like
        Network probabilities p(use); NaN values are left out.
    threshold : float, optional
        A field is predicted usable when ``p > threshold``.
    bins : int, optional
        Bins over [0, 1].
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in; default a new figure.
    title : str, optional
        Axes title.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y).astype(float)
    if y.shape != p.shape:
        raise ValueError("y and p must have the same shape")
    ok = np.isfinite(p)
    p, y = p[ok], y[ok]
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    fig, ax = _axes(ax, (5.0, 3.6))
    ax.hist(y, bins=edges, histtype="stepfilled", alpha=0.3, color="0.4", label="actual label")
    ax.hist(p, bins=edges, histtype="step", linewidth=1.5, color="C0", label="p(use)")
    ax.hist((p > threshold).astype(float), bins=edges, histtype="step", linestyle="--",
            linewidth=1.5, color="C3", label=f"prediction (p > {threshold:g})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("usability (0 don't use, 1 use)")
    ax.set_ylabel("fields")
    ax.legend(loc="upper center", frameon=False)
    if title:
        ax.set_title(title)
    return fig


def plot_probability_by_quality(quality, p, threshold=0.5, bins=20, ax=None, title=None):
    """Histograms of p(use), one per expert quality (do not use, messy, clean).

    Parameters
    ----------
    quality : array-like of int
        Expert quality of each field: 0, 1 or 2.
    p : array-like
        Network probabilities p(use); NaN values are left out.
    threshold : float, optional
        Drawn as a vertical line.
    bins : int, optional
        Bins over [0, 1].
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in; default a new figure.
    title : str, optional
        Axes title.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    p = np.asarray(p, dtype=np.float64)
    quality = np.asarray(quality)
    if quality.shape != p.shape:
        raise ValueError("quality and p must have the same shape")
    if not np.all(np.isin(quality, (0, 1, 2))):
        raise ValueError("quality must be 0, 1 or 2")
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    fig, ax = _axes(ax, (5.0, 3.6))
    colours = ("C3", "C1", "C0")
    for q in (0, 1, 2):
        pick = (quality == q) & np.isfinite(p)
        ax.hist(p[pick], bins=edges, histtype="step", linewidth=1.8, color=colours[q],
                label=f"{QUALITY_LABELS[q]}: {int(pick.sum())}")
    ax.axvline(threshold, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_yscale("log")
    ax.set_xlabel("p(use)")
    ax.set_ylabel("fields")
    ax.legend(loc="upper left", frameon=False, title="expert quality")
    if title:
        ax.set_title(title)
    return fig


def plot_reliability_diagram(y, p, bins=10, ax=None, title=None, label=None, counts=True):
    """Reliability diagram: observed frequency of usable fields against p(use).

    A calibrated model lies on the diagonal. Each bin is drawn at its mean
    probability, with the binomial standard error of a calibrated model,
    and the number of fields in it is written beside it.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        True labels.
    p : array-like
        Probabilities p(use); NaN values are left out.
    bins : int, optional
        Equal-width bins over [0, 1].
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in (several models can share them); default a new figure.
    title : str, optional
        Axes title.
    label : str, optional
        Legend label of these points.
    counts : bool, optional
        Write the number of fields of each bin beside its point.

    Returns
    -------
    `~matplotlib.figure.Figure`
    """
    table = reliability(y, p, bins)
    used = np.asarray(table["n"]) > 0
    fig, ax = _axes(ax, (4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    x = np.asarray(table["p_mean"])[used]
    obs = np.asarray(table["observed"])[used]
    err = np.asarray(table["stderr"])[used]
    line = ax.errorbar(x, obs, yerr=err, marker="o", capsize=2, label=label)
    if counts:
        for xi, oi, ni in zip(x, obs, np.asarray(table["n"])[used], strict=True):
            ax.annotate(str(int(ni)), (xi, oi), textcoords="offset points", xytext=(5, -10),
                        fontsize=7, color=line[0].get_color())
    ax.set_xlim(0, 1.04)
    ax.set_ylim(-0.05, 1.1)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted p(use)")
    ax.set_ylabel("observed fraction usable")
    if label:
        ax.legend(loc="lower right", frameon=False)
    if title:
        ax.set_title(title)
    return fig
