"""Training usability networks on labelled velocity fields.

The recipe of Duckworth et al. (2020), made reproducible: a seeded split that
is stratified by label and grouped by galaxy (the two fields of one galaxy,
and repeat observations of it, never land in different splits), balanced
class weights, augmentation of the training data only (random rotations and
flips), binary cross-entropy with Adam and a learning rate reduced on
plateaus. Training returns a `UsabilityModel`, evaluated with numpy and
stored in kinmisalign's own file format (`UsabilityModel.save`).

TensorFlow and Keras 3 (extra ``nn``) are imported only when a network is
trained; keras-tuner and TensorBoard (extra ``tune``) only by `tune`.
`split_groups`, `class_weights` and `build_dataset` need numpy and astropy
only.
"""

import contextlib
import importlib.util
import os
import re
import warnings
from typing import NamedTuple

import numpy as np

from ._input import INPUT_SIZE, _prepare
from ._keras import build_cnn, build_fcn, import_keras
from ._model import UsabilityModel

__all__ = [
    "split_groups",
    "class_weights",
    "augmentation_layers",
    "train",
    "tune",
    "build_dataset",
    "Dataset",
    "RECIPES",
]

_TUNE_HINT = 'install the "tune" extra: pip install "kinmisalign[tune]"'

RECIPES = {
    "fcn": {"patience": 3, "min_lr": 1e-5},
    "cnn": {"patience": 5, "min_lr": 1e-4},
}
"""Per-architecture ReduceLROnPlateau settings of the seed's recipe (factor 0.2 on val_loss)."""


# -- splits and weights -------------------------------------------------------------------------
def _binary_labels(y):
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
    labels = _binary_labels(y)
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
    labels = _binary_labels(y)
    n = labels.size
    counts = np.bincount(labels, minlength=2)
    return {c: (float(n / (2.0 * counts[c])) if counts[c] else 0.0) for c in (0, 1)}


# -- Keras pieces -------------------------------------------------------------------------------
def augmentation_layers(seed=None):
    """The training-time augmentation of the recipe, as Keras 3 layers.

    Random horizontal and vertical flips (probability 0.5 each) and a
    rotation by an angle uniform in [-180, 180] deg (bilinear interpolation,
    nearest-neighbour fill). Keras applies them in training only; exported
    models never contain them.

    Parameters
    ----------
    seed : int, optional
        Seed of the layers.

    Returns
    -------
    list of keras.layers.Layer
    """
    keras = import_keras()
    s = None if seed is None else int(seed)
    return [
        keras.layers.RandomFlip("horizontal_and_vertical", seed=s, name="augment_flip"),
        keras.layers.RandomRotation(0.5, fill_mode="nearest", interpolation="bilinear",
                                    seed=None if s is None else s + 1, name="augment_rotation"),
    ]


def _wrap(core, augment, seed):
    """The model that is fitted: augmentation layers (training only) in front of the core."""
    keras = import_keras()
    if not augment:
        return core
    return keras.Sequential([keras.Input(shape=core.input_shape[1:]),
                             *augmentation_layers(seed), core], name=f"train_{core.name}")


def _build(architecture, input_shape, build_kwargs):
    if architecture == "fcn":
        return build_fcn(input_shape=input_shape, **(build_kwargs or {}))
    if architecture == "cnn":
        return build_cnn(input_shape=input_shape, **(build_kwargs or {}))
    raise ValueError(f"architecture must be 'fcn' or 'cnn', not {architecture!r}")


def _check_x(x, y, what="x"):
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise ValueError(f"{what} must have shape (n, rows, columns[, 1]), not {x.shape}")
    labels = _binary_labels(y)
    if len(labels) != len(x):
        raise ValueError(f"{what} has {len(x)} samples but there are {len(labels)} labels")
    bad = ~np.isfinite(x).all(axis=(1, 2, 3))
    if bad.any():
        raise ValueError(f"{what} holds {int(bad.sum())} samples with NaN or infinite values "
                         "(fields that could not be normalised): drop them first")
    return x, labels


def _validation_split(x, labels, groups, validation, seed):
    """(x_train, y_train, x_val, y_val, train index, val index) from the validation argument."""
    everything = np.arange(len(x))
    if validation is None or (np.isscalar(validation) and float(validation) == 0.0):
        return x, labels, None, None, everything, None
    if isinstance(validation, tuple | list) and len(validation) == 2:
        xv, yv = _check_x(validation[0], validation[1], "validation x")
        return x, labels, xv, yv, everything, None
    fraction = float(validation)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation must be a fraction in (0, 1), a tuple (x, y) or None, "
                         f"not {validation!r}")
    itrain, ival = split_groups(groups, labels, (1.0 - fraction, fraction), seed=seed)
    return x[itrain], labels[itrain], x[ival], labels[ival], itrain, ival


@contextlib.contextmanager
def _quiet_keras():
    """Silence known harmless deprecation warnings of Keras (numpy 2) and keras-tuner."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                message=r"__array__ implementation doesn't accept a copy keyword")
        # keras-tuner 1.4 calls deprecated threading functions (currentThread, getName).
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"keras_tuner\.")
        yield


def _plateau(architecture, monitor):
    keras = import_keras()
    recipe = RECIPES[architecture]
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.2,
                                             patience=recipe["patience"],
                                             min_lr=recipe["min_lr"], verbose=0)


def train(x, y, groups=None, architecture="fcn", *, epochs=50, batch_size=64, seed=0,
          validation=0.2, augment=True, learning_rate=1e-3, balance=True, build_kwargs=None,
          callbacks=None, meta=None, verbose=0):
    """Train a usability network with the recipe of Duckworth et al. (2020).

    Binary cross-entropy, Adam (learning rate ``learning_rate``),
    ReduceLROnPlateau on the validation loss (factor 0.2; patience 3 and
    floor 1e-5 for the FCN, 5 and 1e-4 for the CNN), balanced class weights
    ``n / (2 n_c)``, and augmentation of the training data only: random
    flips and rotations (`augmentation_layers`). The augmentation layers sit
    in front of the network while fitting and are left out of the returned
    model.

    Parameters
    ----------
    x : array-like
        Network input, shape ``(n, 32, 32, 1)`` (see `prepare_input`),
        finite values only.
    y : array-like of bool or {0, 1}
        Whether each field is usable (expert quality >= 1).
    groups : array-like, optional
        Galaxy of each sample (``mangaid``), so that a validation split keeps
        both fields of a galaxy together; default one group per sample.
    architecture : {'fcn', 'cnn'}, optional
        `build_fcn` (the published network) or `build_cnn`.
    epochs, batch_size : int, optional
        The recipe uses 50 and 64.
    seed : int, optional
        Seeds the split, the initial weights, the shuffling, dropout and the
        augmentation (``keras.utils.set_random_seed``).
    validation : float, tuple or None, optional
        A fraction of the samples held out with `split_groups` (default
        0.2), an ``(x_val, y_val)`` tuple, or None for no validation (the
        learning rate then follows the training loss).
    augment : bool, optional
        Apply the random flips and rotations while training.
    learning_rate : float, optional
        Initial Adam learning rate.
    balance : bool, optional
        Use balanced class weights (`class_weights`).
    build_kwargs : dict, optional
        Passed to `build_fcn` or `build_cnn` (layer sizes, dropout rates).
    callbacks : list, optional
        Further Keras callbacks.
    meta : dict, optional
        Stored with the model (``name``, ``description``...), after the
        training settings recorded automatically.
    verbose : int, optional
        Keras verbosity.

    Returns
    -------
    model : `UsabilityModel`
        The trained network (numpy inference; `UsabilityModel.save` writes it).
    history : dict
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and
        ``learning_rate``, as Keras reports them.

    Raises
    ------
    ImportError
        Without Keras 3 and TensorFlow (extra ``nn``).
    """
    keras = import_keras()
    x, labels = _check_x(x, y)
    if groups is not None and len(groups) != len(labels):
        raise ValueError("groups must have one entry per sample")
    keras.utils.set_random_seed(int(seed))
    xt, yt, xv, yv, itrain, ival = _validation_split(x, labels, groups, validation, seed)
    if len(np.unique(yt)) < 2:
        raise ValueError("the training data must hold both usable and unusable fields")

    core = _build(architecture, x.shape[1:], build_kwargs)
    fitted = _wrap(core, augment, seed)
    fitted.compile(optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)),
                   loss="binary_crossentropy", metrics=["accuracy"])
    monitor = "val_loss" if xv is not None else "loss"
    with _quiet_keras():
        history = fitted.fit(
            xt, yt.astype(np.float32), batch_size=int(batch_size), epochs=int(epochs),
            validation_data=None if xv is None else (xv, yv.astype(np.float32)),
            class_weight=class_weights(yt) if balance else None, shuffle=True,
            callbacks=[_plateau(architecture, monitor), *(callbacks or [])], verbose=verbose)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if "lr" in hist and "learning_rate" not in hist:
        hist["learning_rate"] = hist.pop("lr")

    info = {
        "name": f"{architecture}-trained", "source": "kinmisalign.classifier.train",
        "architecture": architecture, "epochs": int(epochs), "batch_size": int(batch_size),
        "seed": int(seed), "augment": bool(augment), "balanced": bool(balance),
        "n_train": int(len(yt)), "n_validation": int(0 if yv is None else len(yv)),
        "keras_version": keras.__version__,
    }
    for key in ("accuracy", "val_accuracy", "loss", "val_loss"):
        if hist.get(key):
            info[f"final_{key}"] = hist[key][-1]
    info.update(meta or {})
    return UsabilityModel.from_keras(core, meta=info), hist


# -- hyper-parameter search ---------------------------------------------------------------------
def _import_tuner():
    try:
        import keras_tuner
    except ImportError as exc:
        raise ImportError(f"tune needs keras-tuner: {_TUNE_HINT}") from exc
    if importlib.util.find_spec("tensorboard") is None:
        # Without it keras-tuner's trials fail one after another with no clear message.
        raise ImportError(f"tune needs TensorBoard installed (keras-tuner uses it): {_TUNE_HINT}")
    return keras_tuner


def _hypermodel(architecture, input_shape, augment, seed):
    keras = import_keras()

    def build(hp):
        if architecture == "fcn":
            core = build_fcn(
                units=(hp.Int("units_1", 32, 128, step=16), hp.Int("units_2", 64, 256, step=32),
                       hp.Int("units_3", 16, 128, step=16)),
                dropout=(hp.Float("dropout_1", 0.0, 0.6, step=0.1),
                         hp.Float("dropout_2", 0.0, 0.6, step=0.1),
                         hp.Float("dropout_3", 0.0, 0.6, step=0.1)),
                input_shape=input_shape)
        else:
            core = build_cnn(
                filters=(hp.Int("filters_1", 16, 64, step=16), hp.Int("filters_2", 8, 32, step=8)),
                conv_dropout=hp.Float("conv_dropout", 0.0, 0.6, step=0.1),
                dense_units=hp.Int("dense_units", 32, 128, step=32),
                dense_dropout=hp.Float("dense_dropout", 0.0, 0.6, step=0.1),
                input_shape=input_shape)
        model = _wrap(core, augment, seed)
        model.compile(optimizer=keras.optimizers.Adam(
            learning_rate=hp.Choice("learning_rate", [1e-2, 1e-3, 1e-4])),
            loss="binary_crossentropy", metrics=["accuracy"])
        return model

    return build


def tune(x, y, groups=None, architecture="fcn", *, validation=0.2, max_epochs=10, factor=3,
         hyperband_iterations=1, final_epochs=None, batch_size=64, seed=0, augment=True,
         directory=None, project_name="kinmisalign-tune", overwrite=False, verbose=0):
    """Hyper-parameter search with keras-tuner's Hyperband.

    Objective: validation accuracy. FCN space: hidden units 32-128, 64-256
    and 16-128, dropout rates 0-0.6 after each hidden layer, learning rate in
    {1e-2, 1e-3, 1e-4}. CNN space: filters 16-64 and 8-32, dense units
    32-128, dropout rates 0-0.6, the same learning rates. Training follows
    `train` (class weights, augmentation, reduce-on-plateau).

    Parameters
    ----------
    x, y, groups, architecture, validation, batch_size, seed, augment, verbose
        As for `train`.
    max_epochs, factor, hyperband_iterations : int, optional
        Hyperband settings (the seed used 10 and 3).
    final_epochs : int, optional
        Epochs of the final training of the best network with `train`;
        default ``max_epochs``.
    directory : str or path-like, optional
        Where keras-tuner keeps its trials; default a temporary directory,
        removed afterwards.
    project_name : str, optional
        Sub-directory of the trials.
    overwrite : bool, optional
        Delete an earlier search in ``directory`` and start afresh; without it
        an earlier search there is resumed, never deleted.

    Returns
    -------
    model : `UsabilityModel`
        The best network found, trained afresh by `train` with the same seed,
        split and recipe.
    hyperparameters : dict
        Its hyper-parameter values.

    Raises
    ------
    ImportError
        Without keras-tuner or TensorBoard (extra ``tune``), or without
        Keras 3 and TensorFlow.
    """
    import tempfile

    keras_tuner = _import_tuner()
    keras = import_keras()
    if architecture not in RECIPES:
        raise ValueError(f"architecture must be 'fcn' or 'cnn', not {architecture!r}")
    x, labels = _check_x(x, y)
    keras.utils.set_random_seed(int(seed))
    xt, yt, xv, yv, _, _ = _validation_split(x, labels, groups, validation, seed)
    if xv is None:
        raise ValueError("tune needs validation data (its objective is val_accuracy)")
    with tempfile.TemporaryDirectory(prefix="kinmisalign-tune-") as tmp, _quiet_keras():
        tuner = keras_tuner.Hyperband(
            _hypermodel(architecture, x.shape[1:], augment, seed), objective="val_accuracy",
            max_epochs=int(max_epochs), factor=int(factor),
            hyperband_iterations=int(hyperband_iterations), seed=int(seed),
            directory=os.fspath(directory) if directory is not None else tmp,
            project_name=project_name, overwrite=overwrite)
        tuner.search(xt, yt.astype(np.float32), validation_data=(xv, yv.astype(np.float32)),
                     batch_size=int(batch_size), class_weight=class_weights(yt),
                     callbacks=[_plateau(architecture, "val_loss")], verbose=verbose)
        best_hp = tuner.get_best_hyperparameters(1)
        if not best_hp:
            raise RuntimeError("keras-tuner completed no trial")
        values = {k: (v if isinstance(v, int | float | str) else str(v))
                  for k, v in best_hp[0].values.items()}
    # Retrain the best network with the full recipe (loading keras-tuner's saved trial
    # fails under Keras 3 on its optimizer state, and a fresh run is reproducible anyway).
    model, _ = train(x, y, groups, architecture, epochs=final_epochs or max_epochs,
                     batch_size=batch_size, seed=seed, validation=validation, augment=augment,
                     learning_rate=values["learning_rate"],
                     build_kwargs=_build_kwargs(architecture, values), verbose=verbose,
                     meta={"name": f"{architecture}-tuned", "source": "kinmisalign.classifier.tune",
                           "hyperparameters": values})
    return model, values


def _build_kwargs(architecture, values):
    """`build_fcn` / `build_cnn` arguments from hyper-parameter values."""
    if architecture == "fcn":
        return {"units": tuple(values[f"units_{i}"] for i in (1, 2, 3)),
                "dropout": tuple(values[f"dropout_{i}"] for i in (1, 2, 3))}
    return {"filters": (values["filters_1"], values["filters_2"]),
            "conv_dropout": values["conv_dropout"], "dense_units": values["dense_units"],
            "dense_dropout": values["dense_dropout"]}


# -- datasets from expert labels ----------------------------------------------------------------
class Dataset(NamedTuple):
    """Training samples built from an expert-label table (see `build_dataset`).

    Attributes
    ----------
    x : numpy.ndarray
        Network input, float32 ``(n, 32, 32, 1)``.
    y : numpy.ndarray
        bool, usable (expert quality >= 1).
    groups : numpy.ndarray
        Galaxy (``mangaid``, or ``plateifu`` without one) of each sample.
    samples : `~astropy.table.Table`
        One row per sample: ``PLATEIFU``, ``MANGAID``, ``FIELD``
        (``'stellar'``/``'gas'``), ``QUALITY`` and ``USABLE``.
    skipped : `~astropy.table.Table`
        One row per field not used: ``PLATEIFU``, ``FIELD`` and ``REASON``.
    """

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    samples: object
    skipped: object


QUALITY_COLUMNS = {"stellar": "stel_qual", "gas": "halpha_qual"}


def _column(table, name):
    """A column by case-insensitive name, or None."""
    for col in table.colnames:
        if col.lower() == name.lower():
            return table[col]
    return None


_MAPS_NAME = re.compile(r"^manga-(\d+-\d+)-MAPS-(.+?)\.fits(\.gz)?$", re.IGNORECASE)


def _maps_locator(maps_for, daptype):
    """A callable plateifu -> MAPS file, from a callable or a directory (indexed once)."""
    if callable(maps_for):
        return maps_for
    root = os.fspath(maps_for)
    if not os.path.isdir(root):
        raise ValueError(f"maps_for must be a callable or a directory, not {maps_for!r}")
    index = {}
    for folder, _, names in os.walk(root):
        for name in names:
            match = _MAPS_NAME.match(name)
            if match and (not daptype or match.group(2).upper() == daptype.upper()):
                index.setdefault(match.group(1).lower(), []).append(os.path.join(folder, name))

    def find(plateifu):
        hits = sorted(index.get(plateifu.lower(), []))
        if len(hits) > 1:
            raise LookupError(f"several MAPS files ({', '.join(os.path.basename(h) for h in hits)})"
                              ": pass daptype")
        return hits[0] if hits else None

    return find


def _quality(value):
    """The quality as an int in {0, 1, 2}, or (None, reason)."""
    if np.ma.is_masked(value):
        return None, "missing"
    text = str(value.item() if isinstance(value, np.generic) else value).strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"invalid value {text!r} (expected 0, 1 or 2)"
    if not np.isfinite(number) or number not in (0.0, 1.0, 2.0):
        return None, f"invalid value {text} (expected 0, 1 or 2)"
    return int(number), ""


def build_dataset(labels_table, maps_for, *, fields=("stellar", "gas"), daptype=None,
                  maskbits=None, quality_columns=None, plateifu_column="plateifu",
                  mangaid_column="mangaid", size=INPUT_SIZE):
    """Network inputs, binary labels and galaxy groups from expert labels and MAPS files.

    Each row of the label table names an observation (``plateifu``) and
    gives expert qualities (0 don't use, 1 messy, 2 clean) of its stellar and
    gas fields; the MAPS file of the observation is found through
    ``maps_for``, read with `~kinmisalign.read_maps` and each labelled field
    turned into network input (`prepare_input`). The label is
    ``usable = quality >= 1``. Fields that cannot be used are reported, never
    silently dropped: invalid or missing quality (e.g. the two ``stel_qual``
    values of 3 in the public table), no MAPS file, an unreadable file, a
    field that cannot be normalised, or a repeated ``plateifu``.

    Parameters
    ----------
    labels_table : `~astropy.table.Table` or path
        The labels, e.g. the public table of Duckworth et al. (2020) (a CSV
        file is read with ``format='ascii.csv'``). Column names are matched
        case-insensitively; ``plateifu`` values are stripped.
    maps_for : callable or path
        A callable giving, for a checked plate-IFU (see
        `~kinmisalign.sources.validate_plateifu`; rows with other keys are
        skipped and never passed on), the MAPS file (path),
        an already read `~kinmisalign.MapsData`, or None when there is none
        (it may raise to say why); or a directory searched recursively (flat,
        a ``<plate>/<ifu>/`` tree or the survey's layout) for
        ``manga-<plateifu>-MAPS-<DAPTYPE>.fits[.gz]``.
    fields : sequence of {'stellar', 'gas'}, optional
        Which fields to use.
    daptype : str, optional
        With a directory, only files of this DAPTYPE (e.g.
        ``'HYB10-MILESHC-MASTARSSP'``); needed when several match.
    maskbits : {'any', 'donotuse'} or int, optional
        Passed to `~kinmisalign.read_maps` (default ``conf.maskbits``).
    quality_columns : dict, optional
        Column of each field's quality; default ``{'stellar': 'stel_qual',
        'gas': 'halpha_qual'}``.
    plateifu_column, mangaid_column : str, optional
        Key columns. Without a ``mangaid`` column each observation is its
        own group.
    size : int, optional
        Side of the network input.

    Returns
    -------
    `Dataset`
        ``(x, y, groups, samples, skipped)``.
    """
    from astropy.table import Table

    from ..fields import MapsData
    from ..maps import read_maps

    if not isinstance(labels_table, Table):
        path = os.fspath(labels_table)
        labels_table = Table.read(path, format="ascii.csv" if path.lower().endswith(".csv")
                                  else None)
    columns = dict(QUALITY_COLUMNS, **(quality_columns or {}))
    fields = tuple(fields)
    for which in fields:
        if which not in ("stellar", "gas"):
            raise ValueError(f"fields must be 'stellar' and/or 'gas', not {which!r}")
    plateifus = _column(labels_table, plateifu_column)
    if plateifus is None:
        raise ValueError(f"the label table has no {plateifu_column!r} column")
    quality_cols = {}
    for which in fields:
        quality_cols[which] = _column(labels_table, columns[which])
        if quality_cols[which] is None:
            raise ValueError(f"the label table has no {columns[which]!r} column")
    from ..sources import validate_plateifu

    mangaids = _column(labels_table, mangaid_column)
    locate = _maps_locator(maps_for, daptype)

    samples, items, skipped, seen = [], [], [], set()

    def skip(pid, which_list, reason):
        skipped.extend((pid, which, reason) for which in which_list)

    for row in range(len(labels_table)):
        raw = plateifus[row]
        pid = "" if np.ma.is_masked(raw) else str(raw).strip()
        if not pid:
            skip("", fields, "no plateifu")
            continue
        try:
            # Checked before maps_for sees it: a key never becomes a path unchecked.
            pid = validate_plateifu(raw)
        except (TypeError, ValueError) as exc:
            skip(pid[:64], fields, f"invalid plateifu: {exc}")
            continue
        wanted = []
        for which in fields:
            quality, reason = _quality(quality_cols[which][row])
            if quality is None:
                skip(pid, [which], f"{columns[which]}: {reason}")
            else:
                wanted.append((which, quality))
        if not wanted:
            continue
        names = [which for which, _ in wanted]
        if pid.lower() in seen:
            skip(pid, names, "repeated plateifu")
            continue
        seen.add(pid.lower())
        try:
            source = locate(pid)
            if source is None:
                skip(pid, names, "no MAPS file")
                continue
            maps = source if isinstance(source, MapsData) else read_maps(source, maskbits=maskbits)
        except Exception as exc:  # one bad file must not stop the build: report it
            skip(pid, names, f"{type(exc).__name__}: {exc}")
            continue
        mangaid = pid
        if mangaids is not None and not np.ma.is_masked(mangaids[row]):
            mangaid = str(mangaids[row]).strip() or pid
        for which, quality in wanted:
            samples.append((pid, mangaid, which, quality))
            items.append(getattr(maps, which))

    x, reasons = (_prepare(items, errors="nan", size=size) if items
                  else (np.empty((0, size, size, 1), np.float32), []))
    keep = np.array([not r for r in reasons], dtype=bool)
    for (pid, _, which, _), reason in zip(samples, reasons, strict=True):
        if reason:
            skipped.append((pid, which, f"cannot be normalised: {reason}"))
    samples = [s for s, k in zip(samples, keep, strict=True) if k]
    quality = np.array([s[3] for s in samples], dtype=np.int64)
    sample_table = Table(
        [np.array([s[0] for s in samples], dtype=str), np.array([s[1] for s in samples], dtype=str),
         np.array([s[2] for s in samples], dtype=str), quality, quality >= 1],
        names=("PLATEIFU", "MANGAID", "FIELD", "QUALITY", "USABLE"))
    skipped_table = Table(
        [np.array([s[0] for s in skipped], dtype=str), np.array([s[1] for s in skipped], dtype=str),
         np.array([s[2] for s in skipped], dtype=str)], names=("PLATEIFU", "FIELD", "REASON"))
    if not len(skipped):
        skipped_table = Table(names=("PLATEIFU", "FIELD", "REASON"), dtype=(str, str, str))
    return Dataset(x=x[keep], y=quality >= 1, groups=np.array(sample_table["MANGAID"]),
                   samples=sample_table, skipped=skipped_table)
