"""A numpy forward pass of small Keras-style sequential networks (inference only).

A network is a list of layer descriptions (plain dicts, as stored in the
model file) and a dict of weight arrays. Supported layers are the ones the
usability classifiers need: ``flatten``, ``dense``, ``dropout`` (the identity
at inference), ``conv2d`` (stride 1, ``valid`` padding), ``maxpool2d``
(``valid`` padding, stride equal to the pool size) and ``concat`` (appends a
second input, a vector of ``size`` values per sample, to a flat activation).
Data are channels-last, as in Keras, and everything is computed in float32
like Keras does.
"""

import numpy as np

__all__ = ["ACTIVATIONS", "LAYER_TYPES", "forward", "check_layers", "output_shape"]


def _sigmoid(x):
    # Split by sign so that exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ez = np.exp(x[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0, out=x),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
}
LAYER_TYPES = ("flatten", "dense", "dropout", "conv2d", "maxpool2d", "concat")


def _conv2d(x, kernel, bias, chunk=32):
    kh, kw, cin, cout = kernel.shape
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    # One matrix product per chunk of images over all kernel offsets at once (im2col):
    # with few input channels, a product per offset would be too small to be efficient.
    flat = kernel.reshape(kh * kw * cin, cout)
    out = np.empty((n, oh, ow, cout), dtype=np.float32)
    for start in range(0, n, chunk):
        part = x[start:start + chunk]
        columns = np.concatenate([part[:, i:i + oh, j:j + ow, :]
                                  for i in range(kh) for j in range(kw)], axis=-1)
        # As one 2-D product: numpy would run a stacked one as many small products.
        target = out[start:start + chunk].reshape(-1, cout)
        np.matmul(columns.reshape(-1, kh * kw * cin), flat, out=target)
    out += bias
    return out


def _maxpool2d(x, pool):
    ph, pw = pool
    n, h, w, c = x.shape
    oh, ow = h // ph, w // pw
    out = x[:, 0:oh * ph:ph, 0:ow * pw:pw]
    for i in range(ph):
        for j in range(pw):
            if i or j:
                out = np.maximum(out, x[:, i:oh * ph:ph, j:ow * pw:pw])
    return out


def output_shape(layers, input_shape):
    """Shape of one sample after each layer.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions.
    input_shape : tuple of int
        Shape of one input sample, e.g. ``(32, 32, 1)``.

    Returns
    -------
    list of tuple
        The shape after each layer.
    """
    shape = tuple(int(n) for n in input_shape)
    shapes = []
    for layer in layers:
        kind = layer["type"]
        if kind == "flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "dense":
            shape = shape[:-1] + (int(layer["units"]),)
        elif kind == "conv2d":
            kh, kw = layer["kernel_size"]
            shape = (shape[0] - kh + 1, shape[1] - kw + 1, int(layer["filters"]))
        elif kind == "maxpool2d":
            ph, pw = layer["pool_size"]
            shape = (shape[0] // ph, shape[1] // pw, shape[2])
        elif kind == "concat":
            shape = shape[:-1] + (shape[-1] + int(layer["size"]),)
        shapes.append(shape)
    return shapes


def check_layers(layers, weights, input_shape):
    """Check layer descriptions against the weights and the input shape.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions.
    weights : dict of str to numpy.ndarray
        ``'<name>/kernel'`` and ``'<name>/bias'`` of each dense/conv2d layer.
    input_shape : tuple of int
        Shape of one input sample.

    Raises
    ------
    ValueError
        With the first inconsistency found.
    """
    shape = tuple(input_shape)
    shapes = output_shape(layers, input_shape)
    for index, (layer, after) in enumerate(zip(layers, shapes, strict=True)):
        kind = layer.get("type")
        if kind not in LAYER_TYPES:
            raise ValueError(f"layer {index}: unsupported type {kind!r} "
                             f"(supported: {', '.join(LAYER_TYPES)})")
        if kind in ("dense", "conv2d"):
            name = layer.get("name")
            if layer.get("activation", "linear") not in ACTIVATIONS:
                raise ValueError(f"layer {name!r}: unsupported activation "
                                 f"{layer.get('activation')!r}")
            if kind == "dense":
                expect = (shape[-1], after[-1])
            else:
                if (list(layer.get("strides", [1, 1])) != [1, 1]
                        or layer.get("padding", "valid") != "valid"):
                    raise ValueError(f"layer {name!r}: only stride 1 and 'valid' padding")
                expect = tuple(layer["kernel_size"]) + (shape[-1], after[-1])
            for part, want in (("kernel", expect), ("bias", (after[-1],))):
                key = f"{name}/{part}"
                if key not in weights:
                    raise ValueError(f"missing weights {key!r}")
                if weights[key].shape != want:
                    raise ValueError(f"{key} has shape {weights[key].shape}, expected {want}")
        if kind == "concat":
            if len(shape) != 1:
                raise ValueError(f"layer {index}: concat needs a flat input, not shape {shape}")
            if not int(layer.get("size", 0)) >= 1:
                raise ValueError(f"layer {index}: concat needs a positive size")
        if min(after) < 1:
            raise ValueError(f"layer {index} ({kind}) leaves an empty output {after}")
        shape = after


def forward(x, layers, weights, extra=None):
    """Run a network on a batch.

    Parameters
    ----------
    x : numpy.ndarray
        Batch of shape ``(n,) + input_shape``.
    layers : list of dict
        Layer descriptions (see module docstring), already checked.
    weights : dict of str to numpy.ndarray
        float32 weights by ``'<name>/kernel'`` and ``'<name>/bias'``.
    extra : numpy.ndarray, optional
        ``(n, size)`` values appended by a ``concat`` layer.

    Returns
    -------
    numpy.ndarray
        float32 output of the last layer, shape ``(n,) + output_shape``.
    """
    x = np.asarray(x, dtype=np.float32)
    for layer in layers:
        kind = layer["type"]
        if kind == "flatten":
            # Row-major over (rows, columns, channels), as Keras' Flatten.
            x = x.reshape(len(x), -1)
        elif kind == "dropout":
            continue
        elif kind == "concat":
            if extra is None or extra.shape != (len(x), int(layer["size"])):
                raise ValueError(f"the network needs {int(layer['size'])} extra input values "
                                 f"per sample, not {None if extra is None else extra.shape}")
            x = np.concatenate([x, np.asarray(extra, dtype=np.float32)], axis=1)
        elif kind == "maxpool2d":
            x = _maxpool2d(x, layer["pool_size"])
        else:
            name = layer["name"]
            kernel, bias = weights[f"{name}/kernel"], weights[f"{name}/bias"]
            if kind == "dense":
                x = x @ kernel
                x += bias
            else:
                x = _conv2d(x, kernel, bias)
            x = ACTIVATIONS[layer.get("activation", "linear")](x)
    return x
