"""Training kinmisalign's footprint usability networks: pretraining, fine-tuning, calibration.

A footprint network (`footprint_layers`) reads the two-channel footprint
image of a field (``kinmisalign._core.footprint``) with a few convolutions and
joins three symmetry features before its last layers; it gives the log-odds
that the field is usable. It is trained in two stages by
``scripts/train_embedded_model.py``: on many mock fields first, then on mock
and real expert-labelled fields together, with the 8 flips and quarter turns
of every image. Platt's calibration (`fit_platt`), fitted on cross-validated
log-odds, turns the averaged log-odds into probabilities.

Keras 3 and TensorFlow (extra ``nn``) are needed by `train_footprint` only;
`fit_platt` and `calibrated` need numpy; cross-validation folds are
`kinmisalign.classifier.splits.grouped_folds`.
"""

import numpy as np

from .._core.footprint import FEATURE_NAMES
from ._keras import import_keras, keras_from_layers, quiet_keras, weights_from_keras
from ._model import UsabilityModel, _dihedral

# grouped_folds is kept importable from here, its former home.
from .splits import grouped_folds  # noqa: F401

__all__ = [
    "footprint_layers",
    "footprint_input_spec",
    "train_footprint",
    "fit_platt",
    "calibrated",
    "log_odds",
]


_N_FEATURES = len(FEATURE_NAMES)


def footprint_layers(filters=(8, 16, 16), image_units=16, units=16, dropout=0.3,
                     n_features=_N_FEATURES, skip=False):
    """Layer descriptions of a footprint network.

    Three blocks of a 3x3 ReLU convolution and 2x2 max-pooling, a ReLU
    Dense layer and Dropout on the image; then the features are joined
    (``concat``), and a ReLU Dense layer and a linear Dense(1) give the
    log-odds. With ``skip`` the features are joined again before the last
    layer, so the log-odds have a linear path from them.

    Parameters
    ----------
    filters : sequence of int, optional
        Filters of the convolutions.
    image_units, units : int, optional
        Units of the Dense layer of the image and of the joint one.
    dropout : float, optional
        Dropout rate after the image's Dense layer.
    n_features : int, optional
        Features joined to the image (0 for none).
    skip : bool, optional
        Join the features to the last layer's input too.

    Returns
    -------
    list of dict
    """
    layers = []
    for index, n in enumerate(filters):
        layers += [{"type": "conv2d", "name": f"conv_{index}", "filters": int(n),
                    "kernel_size": [3, 3], "activation": "relu"},
                   {"type": "maxpool2d", "pool_size": [2, 2]}]
    layers += [{"type": "flatten"},
               {"type": "dense", "name": "image_dense", "units": int(image_units),
                "activation": "relu"}]
    if dropout:
        layers.append({"type": "dropout", "rate": float(dropout)})
    if n_features:
        layers.append({"type": "concat", "size": int(n_features)})
    layers.append({"type": "dense", "name": "joint_dense", "units": int(units),
                   "activation": "relu"})
    if n_features and skip:
        layers.append({"type": "concat", "size": int(n_features)})
    layers.append({"type": "dense", "name": "logit", "units": 1, "activation": "linear"})
    return layers


def footprint_input_spec(features, size=32, margin=1):
    """The ``input`` object of a footprint model, with the features' standardisation.

    Parameters
    ----------
    features : array-like
        ``(n, len(FEATURE_NAMES))`` raw feature values of the training fields;
        their mean and standard deviation standardise every later input.
    size, margin : int, optional
        Side of the image and spaxels added around the footprint.

    Returns
    -------
    dict
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"features must be (n, {len(FEATURE_NAMES)}), not {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("features must be finite: drop the fields that cannot be used")
    scale = features.std(axis=0)
    return {"kind": "footprint", "size": int(size), "margin": int(margin),
            "features": list(FEATURE_NAMES),
            "feature_mean": [float(v) for v in features.mean(axis=0)],
            "feature_scale": [float(v) if v > 0 else 1.0 for v in scale]}


def log_odds(model, x, extra):
    """Log-odds of a footprint model before calibration, averaged over the 8 dihedral turns.

    Parameters
    ----------
    model : `UsabilityModel`
    x, extra : numpy.ndarray
        Its input (`UsabilityModel.prepare`).

    Returns
    -------
    numpy.ndarray
        float64 ``(n,)``.
    """
    plain = UsabilityModel(model.layers, model.weights, model.input_shape, model.meta,
                           input=model.input, output=dict(model.output, calibration=None))
    p = plain.predict(x, extra).astype(np.float64)
    p = np.clip(p, 1e-7, 1.0 - 1e-7)
    return np.log(p) - np.log1p(-p)


def fit_platt(z, y, weights=None, prior=1.0, iterations=100):
    """Platt's calibration of log-odds: ``p = 1 / (1 + exp(-(a z + b)))``.

    Fitted by Newton's method on the binary cross-entropy with Platt's
    smoothed targets ``(n_1 + 1) / (n_1 + 2)`` and ``1 / (n_0 + 2)``, which
    keep a separable set from driving the slope to infinity.

    Parameters
    ----------
    z : array-like
        Log-odds (e.g. cross-validated, from `log_odds`).
    y : array-like of bool or {0, 1}
        True labels.
    weights : array-like, optional
        Sample weights.
    prior : float, optional
        Strength of the smoothing of the targets (1 is Platt's; 0 for none).
    iterations : int, optional
        Newton steps at most.

    Returns
    -------
    slope, intercept : float
    """
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    if z.shape != y.shape or z.ndim != 1 or not np.isfinite(z).all():
        raise ValueError("z and y must be 1-D, of equal length, with finite z")
    if y.all() or not y.any():
        raise ValueError("calibration needs both usable and unusable fields")
    w = np.ones_like(z) if weights is None else np.asarray(weights, dtype=np.float64)
    n1, n0 = w[y].sum(), w[~y].sum()
    target = np.where(y, (n1 + prior) / (n1 + 2 * prior), prior / (n0 + 2 * prior))
    params = np.array([1.0, 0.0])
    design = np.column_stack([z, np.ones_like(z)])
    for _ in range(int(iterations)):
        t = design @ params
        p = 0.5 * (1.0 + np.tanh(0.5 * t))  # a sigmoid that never overflows
        gradient = design.T @ (w * (p - target))
        hessian = (design * (w * p * (1.0 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        params -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(params[0]), float(params[1])


def calibrated(model, slope, intercept, meta=None):
    """A copy of a footprint model with Platt's calibration in its output.

    Parameters
    ----------
    model : `UsabilityModel`
    slope, intercept : float
        From `fit_platt`.
    meta : dict, optional
        Replaces the model's ``meta`` when given.

    Returns
    -------
    `UsabilityModel`
    """
    output = dict(model.output, calibration={"kind": "platt", "slope": float(slope),
                                             "intercept": float(intercept)})
    return UsabilityModel(model.layers, model.weights, model.input_shape,
                          model.meta if meta is None else meta, input=model.input,
                          output=output)


def _augmented(x, rng):
    """Each image in a random one of its 8 flips and quarter turns."""
    turns = rng.integers(0, 8, len(x))
    out = np.empty_like(x)
    for k in range(8):
        pick = turns == k
        if pick.any():
            out[pick] = _dihedral(x[pick], k)
    return out


def train_footprint(x, extra, y, *, input_spec, init=None, sample_weight=None, epochs=5,
                    batch_size=64, learning_rate=1e-3, seed=0, layers=None, meta=None,
                    verbose=0):
    """Train (or go on training) a footprint network; each epoch sees every image once.

    Every epoch shows each image in a random one of its 8 flips and quarter
    turns; the loss is the weighted binary cross-entropy of the log-odds,
    minimised by Adam. The run is deterministic: the same inputs, seed and
    software give the same weights (TensorFlow's op determinism is
    switched on).

    Parameters
    ----------
    x : numpy.ndarray
        Footprint images ``(n, size, size, 2)``, finite.
    extra : numpy.ndarray
        Standardised features ``(n, n_features)``, finite.
    y : array-like of bool or {0, 1}
        Labels (usable or not).
    input_spec : dict
        The model's ``input`` object (`footprint_input_spec`).
    init : `UsabilityModel`, optional
        Start from these weights (fine-tuning); default a new network of
        ``layers``.
    sample_weight : array-like, optional
        Weight of each sample in the loss.
    epochs, batch_size : int, optional
    learning_rate : float, optional
        Adam's learning rate.
    seed : int, optional
        Seeds the initial weights, the shuffling, dropout and the turns.
    layers : list of dict, optional
        Architecture when ``init`` is None; default `footprint_layers`.
    meta : dict, optional
        Stored with the model.
    verbose : int, optional
        Keras verbosity.

    Returns
    -------
    `UsabilityModel`
        The log-odds averaged over the 8 turns, without calibration.
    """
    keras = import_keras()
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float32)
    extra = np.asarray(extra, dtype=np.float32)
    labels = np.asarray(y).astype(np.float32)
    if not (len(x) == len(extra) == len(labels)):
        raise ValueError("x, extra and y must have one entry per sample")
    if not (np.isfinite(x).all() and np.isfinite(extra).all()):
        raise ValueError("x and extra must be finite: drop the fields that cannot be used")
    weights = (np.ones(len(x), np.float32) if sample_weight is None
               else np.asarray(sample_weight, dtype=np.float32))
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(int(seed))
    if init is not None:
        layers, start = init.layers, init.weights
    else:
        layers, start = (layers or footprint_layers(n_features=extra.shape[1])), None
    net = keras_from_layers(layers, start, x.shape[1:], extra.shape[1])
    net.compile(optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)),
                loss=keras.losses.BinaryCrossentropy(from_logits=True))
    rng = np.random.default_rng(seed)
    with quiet_keras():
        for _ in range(int(epochs)):
            net.fit([_augmented(x, rng), extra], labels, sample_weight=weights,
                    batch_size=int(batch_size), epochs=1, shuffle=True, verbose=verbose)
    info = {"name": "footprint-trained", "source": "kinmisalign.classifier.train_footprint",
            "epochs": int(epochs), "seed": int(seed), "n_train": int(len(x)),
            "keras_version": keras.__version__}
    info.update(meta or {})
    return UsabilityModel(layers, weights_from_keras(net, layers), x.shape[1:], info,
                          input=input_spec, output={"logit": True, "average": "dihedral"})
