"""Training usability networks with Keras on labelled velocity fields (extra ``nn``).

The recipe of Duckworth et al. (2020), made reproducible: a seeded split that
is stratified by label and grouped by galaxy
(`~kinmisalign.classifier.splits.split_groups`), balanced class weights
(`~kinmisalign.classifier.splits.class_weights`), augmentation of the training data only (random
rotations and flips), binary cross-entropy with Adam and a learning rate
reduced on plateaus. Training returns a `~kinmisalign.UsabilityModel`,
evaluated with numpy and stored in kinmisalign's own file format
(`~kinmisalign.UsabilityModel.save`).

TensorFlow and Keras 3 (extra ``nn``) are imported only when a network is
built or trained, never when this module is imported. Hyper-parameter search
is in `kinmisalign.classifier.tuning`, splits in `kinmisalign.classifier.splits`
and training sets from expert labels in `kinmisalign.classifier.datasets`.
"""

import numpy as np

from ._keras import build_cnn, build_fcn, import_keras, quiet_keras
from ._model import UsabilityModel
from ._recipe import (
    RECIPES,
    augmentation_layers,
    build_network,
    check_samples,
    plateau,
    validation_split,
    with_augmentation,
)

# Dataset, build_dataset and split_groups are kept importable from here, their former home.
from .datasets import Dataset, build_dataset  # noqa: F401
from .splits import class_weights, split_groups  # noqa: F401

__all__ = ["train", "augmentation_layers", "build_fcn", "build_cnn", "RECIPES"]


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
    x, labels = check_samples(x, y)
    if groups is not None and len(groups) != len(labels):
        raise ValueError("groups must have one entry per sample")
    keras.utils.set_random_seed(int(seed))
    xt, yt, xv, yv, itrain, ival = validation_split(x, labels, groups, validation, seed)
    if len(np.unique(yt)) < 2:
        raise ValueError("the training data must hold both usable and unusable fields")

    core = build_network(architecture, x.shape[1:], build_kwargs)
    fitted = with_augmentation(core, augment, seed)
    fitted.compile(optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)),
                   loss="binary_crossentropy", metrics=["accuracy"])
    monitor = "val_loss" if xv is not None else "loss"
    with quiet_keras():
        history = fitted.fit(
            xt, yt.astype(np.float32), batch_size=int(batch_size), epochs=int(epochs),
            validation_data=None if xv is None else (xv, yv.astype(np.float32)),
            class_weight=class_weights(yt) if balance else None, shuffle=True,
            callbacks=[plateau(architecture, monitor), *(callbacks or [])], verbose=verbose)
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
