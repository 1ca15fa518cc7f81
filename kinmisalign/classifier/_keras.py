"""Keras 3 definitions of the usability networks (extra ``nn``) and conversions.

Keras is imported inside the functions, never at import time of kinmisalign.
"""

import contextlib
import warnings

import numpy as np

from .._optional import install_command, require

__all__ = [
    "build_fcn",
    "build_cnn",
    "layers_from_keras",
    "keras_from_layers",
    "weights_from_keras",
    "import_keras",
    "quiet_keras",
]

def import_keras():
    """Import Keras 3, or fail with a message naming the ``nn`` extra.

    Returns
    -------
    module
        The ``keras`` module.
    """
    keras = require("keras", extra="nn", feature="training a network",
                    package="Keras 3 with TensorFlow")
    if int(keras.__version__.split(".")[0]) < 3:
        raise ImportError(f"training a network needs Keras >= 3, found "
                          f"{keras.__version__}; install it with: {install_command('nn')}")
    return keras


def build_fcn(units=(64, 128, 80), dropout=(0.0, 0.6, 0.5), input_shape=(32, 32, 1)):
    """The fully connected network of Duckworth et al. (2020).

    Flatten, then one ReLU Dense layer per entry of ``units``, each followed
    by a Dropout layer when its rate is non-zero, then a sigmoid Dense(1).
    The defaults give the published architecture (84,321 parameters).

    Parameters
    ----------
    units : sequence of int, optional
        Units of the hidden layers.
    dropout : sequence of float, optional
        Dropout rate after each hidden layer (0 for none).
    input_shape : tuple of int, optional
        Shape of one input sample.

    Returns
    -------
    keras.Sequential
        Uncompiled.
    """
    keras = import_keras()
    if len(units) != len(dropout):
        raise ValueError("units and dropout must have the same length")
    layers = [keras.Input(shape=tuple(input_shape)), keras.layers.Flatten()]
    for n, rate in zip(units, dropout, strict=True):
        layers.append(keras.layers.Dense(int(n), activation="relu"))
        if rate:
            layers.append(keras.layers.Dropout(float(rate)))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(layers, name="fcn")


def build_cnn(filters=(64, 16), conv_dropout=0.3, dense_units=64, dense_dropout=0.1,
              input_shape=(32, 32, 1)):
    """The convolutional network of Duckworth et al. (2020).

    Two 3x3 ReLU convolutions (valid padding), Dropout, 2x2 max-pooling,
    Flatten, a ReLU Dense layer, Dropout and a sigmoid Dense(1); the
    defaults give 210,705 parameters.

    Parameters
    ----------
    filters : sequence of int, optional
        Filters of the convolutions.
    conv_dropout, dense_dropout : float, optional
        Dropout rates after the convolutions and after the hidden Dense layer.
    dense_units : int, optional
        Units of the hidden Dense layer.
    input_shape : tuple of int, optional
        Shape of one input sample.

    Returns
    -------
    keras.Sequential
        Uncompiled.
    """
    keras = import_keras()
    layers = [keras.Input(shape=tuple(input_shape))]
    for n in filters:
        layers.append(keras.layers.Conv2D(int(n), (3, 3), activation="relu", padding="valid"))
    if conv_dropout:
        layers.append(keras.layers.Dropout(float(conv_dropout)))
    layers += [keras.layers.MaxPooling2D((2, 2)), keras.layers.Flatten(),
               keras.layers.Dense(int(dense_units), activation="relu")]
    if dense_dropout:
        layers.append(keras.layers.Dropout(float(dense_dropout)))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    return keras.Sequential(layers, name="cnn")


def _activation_name(layer):
    import keras

    name = keras.activations.serialize(layer.activation)
    if isinstance(name, dict):  # some Keras versions wrap it
        name = name.get("config", {}).get("name", name.get("class_name"))
    return str(name)


def layers_from_keras(model):
    """Layer descriptions and weights of a Keras sequential model.

    Parameters
    ----------
    model : keras.Model
        Made of Flatten, Dense, Dropout, Conv2D and MaxPooling2D layers.

    Returns
    -------
    layers : list of dict
    weights : dict of str to numpy.ndarray
    """
    keras = import_keras()
    kl = keras.layers
    layers, weights = [], {}
    for index, layer in enumerate(model.layers):
        name = f"{type(layer).__name__.lower()}_{index}"
        if isinstance(layer, kl.InputLayer):
            continue
        if isinstance(layer, kl.Flatten):
            layers.append({"type": "flatten"})
        elif isinstance(layer, kl.Dropout):
            layers.append({"type": "dropout", "rate": float(layer.rate)})
        elif isinstance(layer, kl.Dense):
            layers.append({"type": "dense", "name": name, "units": int(layer.units),
                           "activation": _activation_name(layer)})
        elif isinstance(layer, kl.Conv2D):
            if (tuple(layer.strides) != (1, 1) or layer.padding != "valid"
                    or layer.data_format != "channels_last"
                    or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1):
                raise ValueError(f"layer {layer.name}: only channels-last, stride 1, valid, "
                                 "undilated convolutions are supported")
            layers.append({"type": "conv2d", "name": name, "filters": int(layer.filters),
                           "kernel_size": [int(k) for k in layer.kernel_size],
                           "activation": _activation_name(layer)})
        elif isinstance(layer, kl.MaxPooling2D):
            if (tuple(layer.strides) != tuple(layer.pool_size) or layer.padding != "valid"
                    or layer.data_format != "channels_last"):
                raise ValueError(f"layer {layer.name}: only channels-last, valid pooling with "
                                 "strides equal to the pool size is supported")
            layers.append({"type": "maxpool2d", "pool_size": [int(k) for k in layer.pool_size]})
        else:
            raise ValueError(f"layer {layer.name} ({type(layer).__name__}) is not supported")
        if layers[-1]["type"] in ("dense", "conv2d"):
            if not layer.use_bias:
                raise ValueError(f"layer {layer.name}: layers without bias are not supported")
            kernel, bias = layer.get_weights()
            weights[f"{name}/kernel"] = kernel
            weights[f"{name}/bias"] = bias
    return layers, weights


def keras_from_layers(layers, weights, input_shape, n_features=0):
    """Build a Keras 3 model from layer descriptions and weights.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions (`~kinmisalign.classifier.UsabilityModel`); a
        ``concat`` layer makes a model of two inputs, the image and a vector
        of ``n_features`` values.
    weights : dict of str to numpy.ndarray or None
        Weights by ``'<name>/kernel'`` and ``'<name>/bias'``; None leaves
        Keras' initial weights (for training).
    input_shape : tuple of int
    n_features : int, optional
        Values per sample of the second input, when there is a ``concat``
        layer.

    Returns
    -------
    keras.Model
        A `keras.Sequential` without ``concat`` layers, otherwise a
        functional model taking ``[images, features]``. Keras layers carry
        the names of the layer descriptions.
    """
    keras = import_keras()
    kl = keras.layers
    built = []
    for layer in layers:
        kind = layer["type"]
        name = layer.get("name")
        if kind == "flatten":
            built.append(kl.Flatten())
        elif kind == "dropout":
            built.append(kl.Dropout(layer["rate"]))
        elif kind == "dense":
            built.append(kl.Dense(layer["units"], activation=layer["activation"], name=name))
        elif kind == "conv2d":
            built.append(kl.Conv2D(layer["filters"], tuple(layer["kernel_size"]),
                                   activation=layer["activation"], padding="valid", name=name))
        elif kind == "maxpool2d":
            built.append(kl.MaxPooling2D(tuple(layer["pool_size"])))
        elif kind == "concat":
            built.append(kl.Concatenate())
    if not any(layer["type"] == "concat" for layer in layers):
        # The sequential form, as the published networks are.
        model = keras.Sequential([keras.Input(shape=tuple(input_shape)), *built])
    else:
        if not n_features:
            raise ValueError("a concat layer needs n_features > 0")
        image = keras.Input(shape=tuple(input_shape), name="image")
        features = keras.Input(shape=(int(n_features),), name="features")
        x = image
        for layer, keras_layer in zip(layers, built, strict=True):
            x = keras_layer([x, features]) if layer["type"] == "concat" else keras_layer(x)
        model = keras.Model([image, features], x)
    if weights is not None:
        for layer in layers:
            if layer["type"] in ("dense", "conv2d"):
                name = layer["name"]
                model.get_layer(name).set_weights([weights[f"{name}/kernel"],
                                                   weights[f"{name}/bias"]])
    return model


def weights_from_keras(model, layers):
    """The weights of a model built by `keras_from_layers`, by layer description name.

    Parameters
    ----------
    model : keras.Model
    layers : list of dict

    Returns
    -------
    dict of str to numpy.ndarray
    """
    weights = {}
    for layer in layers:
        if layer["type"] in ("dense", "conv2d"):
            kernel, bias = model.get_layer(layer["name"]).get_weights()
            weights[f"{layer['name']}/kernel"] = np.asarray(kernel, dtype=np.float32)
            weights[f"{layer['name']}/bias"] = np.asarray(bias, dtype=np.float32)
    return weights


@contextlib.contextmanager
def quiet_keras():
    """Silence known harmless deprecation warnings of Keras (numpy 2) and keras-tuner."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning,
                                message=r"__array__ implementation doesn't accept a copy keyword")
        # keras-tuner 1.4 calls deprecated threading functions (currentThread, getName).
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"keras_tuner\.")
        yield
