"""The Keras training recipe shared by `train` and `tune`: augmentation, checks, callbacks."""

import numpy as np

from ._keras import build_cnn, build_fcn, import_keras
from .splits import binary_labels, split_groups

__all__ = [
    "RECIPES",
    "augmentation_layers",
    "with_augmentation",
    "build_network",
    "check_samples",
    "validation_split",
    "plateau",
]

RECIPES = {
    "fcn": {"patience": 3, "min_lr": 1e-5},
    "cnn": {"patience": 5, "min_lr": 1e-4},
}
"""Per-architecture ReduceLROnPlateau settings of the seed's recipe (factor 0.2 on val_loss)."""


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


def with_augmentation(core, augment, seed):
    """The model that is fitted: augmentation layers (training only) in front of the core."""
    keras = import_keras()
    if not augment:
        return core
    return keras.Sequential([keras.Input(shape=core.input_shape[1:]),
                             *augmentation_layers(seed), core], name=f"train_{core.name}")


def build_network(architecture, input_shape, build_kwargs):
    """The network of ``architecture`` ('fcn' or 'cnn') built with ``build_kwargs``."""
    if architecture == "fcn":
        return build_fcn(input_shape=input_shape, **(build_kwargs or {}))
    if architecture == "cnn":
        return build_cnn(input_shape=input_shape, **(build_kwargs or {}))
    raise ValueError(f"architecture must be 'fcn' or 'cnn', not {architecture!r}")


def check_samples(x, y, what="x"):
    """Network input as float32 ``(n, rows, columns, 1)`` and its checked labels."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise ValueError(f"{what} must have shape (n, rows, columns[, 1]), not {x.shape}")
    labels = binary_labels(y)
    if len(labels) != len(x):
        raise ValueError(f"{what} has {len(x)} samples but there are {len(labels)} labels")
    bad = ~np.isfinite(x).all(axis=(1, 2, 3))
    if bad.any():
        raise ValueError(f"{what} holds {int(bad.sum())} samples with NaN or infinite values "
                         "(fields that could not be normalised): drop them first")
    return x, labels


def validation_split(x, labels, groups, validation, seed):
    """(x_train, y_train, x_val, y_val, train index, val index) from the validation argument."""
    everything = np.arange(len(x))
    if validation is None or (np.isscalar(validation) and float(validation) == 0.0):
        return x, labels, None, None, everything, None
    if isinstance(validation, tuple | list) and len(validation) == 2:
        xv, yv = check_samples(validation[0], validation[1], "validation x")
        return x, labels, xv, yv, everything, None
    fraction = float(validation)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation must be a fraction in (0, 1), a tuple (x, y) or None, "
                         f"not {validation!r}")
    itrain, ival = split_groups(groups, labels, (1.0 - fraction, fraction), seed=seed)
    return x[itrain], labels[itrain], x[ival], labels[ival], itrain, ival


def plateau(architecture, monitor):
    """The recipe's ReduceLROnPlateau callback of ``architecture`` on ``monitor``."""
    keras = import_keras()
    recipe = RECIPES[architecture]
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.2,
                                             patience=recipe["patience"],
                                             min_lr=recipe["min_lr"], verbose=0)
