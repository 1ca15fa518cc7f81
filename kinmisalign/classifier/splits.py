"""Seeded, grouped and stratified splits of labelled samples, and class weights (numpy only).

The splits of Duckworth et al.'s recipe made reproducible: `split_groups` is
seeded, stratified by label and grouped by galaxy (the two fields of one
galaxy, and repeat observations of it, never land in different splits);
`grouped_folds` gives cross-validation folds the same way; `class_weights`
gives the balanced weights of the recipe.
"""

import numpy as np

__all__ = ["split_groups", "grouped_folds", "class_weights", "binary_labels"]


def binary_labels(y):
    """Binary labels as int64 0/1, checked.

    Parameters
    ----------
    y : array-like of bool or {0, 1}
        One label per sample: 0/False (don't use) or 1/True (use).

    Returns
    -------
    numpy.ndarray
        int64, 1-D.

    Raises
    ------
    ValueError
        When ``y`` is not 1-D or holds other values.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, not of shape {y.shape}")
    if y.dtype == bool:
        return y.astype(np.int64)
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("labels must be binary: 0/False (don't use) or 1/True (use)")
    return y.astype(np.int64)


def split_groups(groups, y, fractions=(0.6, 0.2, 0.2), seed=0):
    """Seeded split of samples, stratified by label and grouped by galaxy.

    Every sample of one group (e.g. the stellar and gas fields of one
    galaxy, or repeat observations sharing a ``mangaid``) goes to the same
    split. Groups are stratified by their composition (number of samples and
    of usable ones), and each stratum is shared among the splits in
    proportion to ``fractions`` by systematic sampling from a random start,
    so every split gets about the same fraction of usable fields.

    Parameters
    ----------
    groups : array-like
        Group of each sample (any hashable values, e.g. ``mangaid`` strings);
        None gives every sample its own group.
    y : array-like of bool or {0, 1}
        Binary label of each sample.
    fractions : sequence of float, optional
        Target fraction of the samples in each split (normalised to sum 1).
    seed : int, optional
        Seed of the random assignment: the same inputs and seed always give
        the same split.

    Returns
    -------
    tuple of numpy.ndarray
        Sorted sample indices of each split, in the order of ``fractions``.
    """
    labels = binary_labels(y)
    n = labels.size
    if groups is None:
        groups = np.arange(n)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one entry per label ({n}), not shape {groups.shape}")
    fractions = np.asarray(fractions, dtype=float)
    if (fractions.ndim != 1 or fractions.size < 1 or np.any(fractions < 0)
            or not fractions.sum() > 0):
        raise ValueError("fractions must be a non-empty sequence of non-negative numbers")
    fractions = fractions / fractions.sum()
    bounds = np.cumsum(fractions)[:-1]

    _, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.ravel()
    size = np.bincount(inverse)
    n_pos = np.bincount(inverse, weights=labels).astype(np.int64)
    rng = np.random.default_rng(seed)
    split_of_group = np.empty(size.size, dtype=np.int64)
    strata = {}
    for g, key in enumerate(zip(size.tolist(), n_pos.tolist(), strict=True)):
        strata.setdefault(key, []).append(g)
    for key in sorted(strata):
        members = rng.permutation(np.array(strata[key]))
        sizes = size[members]
        total = sizes.sum()
        # Position of each group's middle along the stratum, from a random start.
        middle = (np.cumsum(sizes) - sizes / 2.0 + rng.uniform(0, total)) % total / total
        split_of_group[members] = np.searchsorted(bounds, middle, side="right")
    split = split_of_group[inverse]
    return tuple(np.flatnonzero(split == k) for k in range(fractions.size))


def class_weights(y):
    """Balanced class weights ``n / (2 n_c)`` of binary labels.

    Parameters
    ----------
    y : array-like of bool or {0, 1}

    Returns
    -------
    dict
        ``{0: weight of "don't use", 1: weight of "use"}``; a class with no
        sample gets weight 0.
    """
    labels = binary_labels(y)
    n = labels.size
    counts = np.bincount(labels, minlength=2)
    return {c: (float(n / (2.0 * counts[c])) if counts[c] else 0.0) for c in (0, 1)}


def grouped_folds(groups, y, n_folds=5, seed=0):
    """Stratified folds that keep the samples of one group (galaxy) together.

    Parameters
    ----------
    groups : array-like
        Group of each sample (e.g. ``mangaid``).
    y : array-like of bool or {0, 1}
        Labels, for the stratification.
    n_folds : int, optional
    seed : int, optional

    Returns
    -------
    list of (train, test)
        Sorted index arrays; every sample is in exactly one test fold.
    """
    tests = split_groups(groups, y, fractions=[1.0] * int(n_folds), seed=seed)
    everything = np.arange(len(np.asarray(y)))
    return [(np.setdiff1d(everything, test), test) for test in tests]
