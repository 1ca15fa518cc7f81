"""Hyper-parameter search of usability networks with keras-tuner's Hyperband (extra ``tune``).

keras-tuner and TensorBoard (extra ``tune``), and TensorFlow with Keras 3
(extra ``nn``), are imported only when `tune` runs.
"""

import importlib.util
import os

import numpy as np

from .._optional import install_command, require
from ._keras import build_cnn, build_fcn, import_keras, quiet_keras
from ._recipe import RECIPES, check_samples, plateau, validation_split, with_augmentation
from .splits import class_weights
from .training import train

__all__ = ["tune"]

def _import_tuner():
    keras_tuner = require("keras_tuner", extra="tune", feature="tune", package="keras-tuner")
    if importlib.util.find_spec("tensorboard") is None:
        # Without it keras-tuner's trials fail one after another with no clear message.
        raise ImportError("tune needs TensorBoard installed (keras-tuner uses it); install it "
                          f"with: {install_command('tune')}")
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
        model = with_augmentation(core, augment, seed)
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
    x, labels = check_samples(x, y)
    keras.utils.set_random_seed(int(seed))
    xt, yt, xv, yv, _, _ = validation_split(x, labels, groups, validation, seed)
    if xv is None:
        raise ValueError("tune needs validation data (its objective is val_accuracy)")
    with tempfile.TemporaryDirectory(prefix="kinmisalign-tune-") as tmp, quiet_keras():
        tuner = keras_tuner.Hyperband(
            _hypermodel(architecture, x.shape[1:], augment, seed), objective="val_accuracy",
            max_epochs=int(max_epochs), factor=int(factor),
            hyperband_iterations=int(hyperband_iterations), seed=int(seed),
            directory=os.fspath(directory) if directory is not None else tmp,
            project_name=project_name, overwrite=overwrite)
        tuner.search(xt, yt.astype(np.float32), validation_data=(xv, yv.astype(np.float32)),
                     batch_size=int(batch_size), class_weight=class_weights(yt),
                     callbacks=[plateau(architecture, "val_loss")], verbose=verbose)
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
