"""The usability model: architecture plus weights, run with numpy, stored without pickle.

File format (``.npz``, versions 1 and 2)
----------------------------------------
A numpy ``.npz`` archive, read with ``allow_pickle=False``, holding only plain
numeric arrays:

``__model__``
    uint8 array of the UTF-8 bytes of a JSON object::

        {"format": "kinmisalign-usability-model", "version": 1,
         "input_shape": [32, 32, 1],
         "layers": [{"type": "flatten"},
                    {"type": "dense", "name": "dense_0", "units": 64,
                     "activation": "relu"},
                    {"type": "dropout", "rate": 0.6}, ...],
         "meta": {"name": ..., "description": ..., "source": ...}}

    Layer types: ``flatten`` (row-major), ``dense`` (``units``,
    ``activation``), ``dropout`` (``rate``; the identity at inference),
    ``conv2d`` (``filters``, ``kernel_size``, ``activation``; stride 1,
    ``valid`` padding), ``maxpool2d`` (``pool_size``) and ``concat``
    (``size``: appends the input's feature vector). Activations:
    ``linear``, ``relu``, ``sigmoid``, ``tanh``.

    Version 2 adds two optional objects:

    ``"input"``
        How fields become network input: ``{"kind": "duckworth2020"}``
        (the whole array, SPEC section 6; the default, and the only form of
        version 1) or ``{"kind": "footprint", "size": 32, "margin": 1,
        "features": [...], "feature_mean": [...], "feature_scale": [...]}``
        (`kinmisalign._core.footprint`: the good spaxels only, centred on
        the galaxy, with standardised symmetry features for a ``concat``
        layer).
    ``"output"``
        How the last layer's value becomes a probability:
        ``{"logit": bool, "average": "none" | "dihedral", "calibration":
        null | {"kind": "platt", "slope": a, "intercept": b}}``. With
        ``"dihedral"`` the network is run on the 8 flips and quarter turns of
        the image and the log-odds are averaged, so the verdict does not
        depend on the map's orientation; Platt's calibration then gives
        ``p = 1 / (1 + exp(-(a z + b)))`` of the log-odds ``z``. Default (and
        version 1): the last layer gives the probability itself.
``<name>/kernel``, ``<name>/bias``
    float32 weights of each ``dense`` and ``conv2d`` layer, in Keras' layout:
    a dense kernel is ``(inputs, units)``, a convolution kernel
    ``(rows, columns, in_channels, filters)``.

The last layer must give one value per sample: the probability that the
field is usable, or its log-odds when ``output["logit"]`` is true.
"""

import json
import os
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from .._core import mlp

__all__ = ["UsabilityModel", "ModelInput", "FORMAT_NAME", "FORMAT_VERSION", "INPUT_KINDS"]

FORMAT_NAME = "kinmisalign-usability-model"
FORMAT_VERSION = 2
INPUT_KINDS = ("duckworth2020", "footprint")
_DEFAULT_INPUT = {"kind": "duckworth2020"}
_DEFAULT_OUTPUT = {"logit": False, "average": "none", "calibration": None}
_HEADER_KEY = "__model__"
_MAX_UNPACKED = 500_000_000  # bytes; the published network is 1 MB, a zip bomb is not


def _kind_of(magic):
    """What a file seems to be, from its first bytes (for error messages)."""
    if magic.startswith(b"\x93NUMPY"):
        return "a single numpy array (.npy)"
    if magic.startswith(b"\x89HDF"):
        return ("an HDF5 file (a legacy Keras .h5 model is read with "
                "UsabilityModel.from_keras_file)")
    if magic[:1] == b"\x80" or magic[:1] in (b"(", b"]", b"}"):
        return "a Python pickle, which is never loaded"
    return f"unknown content starting {magic[:8]!r}"


def _plain_array(archive, name, path):
    """One member of a model archive, refusing anything but a numeric array."""
    if not name.isprintable() or len(name) > 200:
        raise ValueError(f"{path} has a member with an invalid name {name[:40]!r}")
    try:
        value = archive[name]
    except ValueError as exc:  # object arrays: numpy refuses to unpickle them
        raise ValueError(f"{path}: array {name!r} holds Python objects (pickled data), "
                         f"which are never loaded ({exc})") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        # A truncated or corrupt member fails only when it is read.
        raise ValueError(f"{path} is not a readable kinmisalign model file: member {name!r} "
                         f"({exc})") from None
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{path}: member {name!r} is not a numpy array (.npy)")
    if value.dtype.kind not in "fiu":
        raise ValueError(f"{path}: array {name!r} has dtype {value.dtype}, not a number type")
    return value


def _check_input_spec(spec, input_shape):
    """A complete, checked copy of the ``input`` object of a model."""
    spec = dict(_DEFAULT_INPUT if spec is None else spec)
    kind = spec.get("kind")
    if kind not in INPUT_KINDS:
        raise ValueError(f"input kind must be one of {INPUT_KINDS}, not {kind!r}")
    if kind == "duckworth2020":
        if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[2] != 1:
            raise ValueError(f"a duckworth2020 input is (n, n, 1), not {input_shape}")
        return {"kind": kind}
    from .._core.footprint import FEATURE_NAMES

    size = int(spec.get("size", input_shape[0]))
    if tuple(input_shape) != (size, size, 2):
        raise ValueError(f"a footprint input of size {size} is ({size}, {size}, 2), "
                         f"not {input_shape}")
    features = [str(name) for name in spec.get("features", [])]
    unknown = [name for name in features if name not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown input features {unknown} (known: {', '.join(FEATURE_NAMES)})")
    mean = [float(v) for v in spec.get("feature_mean", [0.0] * len(features))]
    scale = [float(v) for v in spec.get("feature_scale", [1.0] * len(features))]
    if len(mean) != len(features) or len(scale) != len(features):
        raise ValueError("feature_mean and feature_scale need one value per feature")
    if not all(np.isfinite(mean)) or not all(np.isfinite(v) and v > 0 for v in scale):
        raise ValueError("feature_mean must be finite and feature_scale positive")
    return {"kind": kind, "size": size, "margin": int(spec.get("margin", 1)),
            "features": features, "feature_mean": mean, "feature_scale": scale}


def _check_output_spec(spec):
    """A complete, checked copy of the ``output`` object of a model."""
    out = dict(_DEFAULT_OUTPUT)
    out.update(spec or {})
    out["logit"] = bool(out["logit"])
    if out["average"] not in ("none", "dihedral"):
        raise ValueError(f"output average must be 'none' or 'dihedral', not {out['average']!r}")
    calibration = out["calibration"]
    if calibration is not None:
        if calibration.get("kind") != "platt":
            raise ValueError(f"unknown calibration {calibration.get('kind')!r} (known: 'platt')")
        slope, intercept = float(calibration["slope"]), float(calibration["intercept"])
        if not (np.isfinite(slope) and np.isfinite(intercept)):
            raise ValueError("calibration slope and intercept must be finite")
        out["calibration"] = {"kind": "platt", "slope": slope, "intercept": intercept}
    return out


def _log_odds(p):
    p = np.clip(p.astype(np.float64), 1e-7, 1.0 - 1e-7)
    return np.log(p) - np.log1p(-p)


def _dihedral(x, k):
    """The ``k``-th (0-7) flip or quarter turn of a batch of images (n, rows, columns, c)."""
    if k >= 4:
        x = x[:, :, ::-1]
    return np.rot90(x, k % 4, axes=(1, 2))


class ModelInput(NamedTuple):
    """Network input of a batch of fields, as a model prepares it (`UsabilityModel.prepare`).

    Attributes
    ----------
    x : numpy.ndarray
        float32 images, ``(n,) + input_shape``; NaN for fields that cannot
        be normalised.
    extra : numpy.ndarray or None
        float32 ``(n, n_features)`` standardised features for a ``concat``
        layer, or None when the model takes none.
    reasons : list of str
        Why each field cannot be classified, ``''`` when it can.
    """

    x: np.ndarray
    extra: object
    reasons: list


class UsabilityModel:
    """A velocity-field usability classifier, evaluated with numpy.

    Parameters
    ----------
    layers : list of dict
        Layer descriptions, as in the model file format (`save`).
    weights : dict of str to array-like
        ``'<name>/kernel'`` and ``'<name>/bias'`` of each dense or conv2d layer.
    input_shape : tuple of int, optional
        Shape of one input sample; default ``(32, 32, 1)``.
    meta : dict, optional
        JSON-serialisable description: ``name``, ``description``, ``source``...
    input : dict, optional
        How velocity fields become input (module docstring); default the
        published network's, ``{'kind': 'duckworth2020'}``.
    output : dict, optional
        How the last layer's value becomes a probability (module
        docstring); default: it is the probability.

    Notes
    -----
    No TensorFlow is needed to evaluate a model. `from_keras` and `to_keras`
    convert to and from a Keras 3 model (extra ``nn``).
    """

    def __init__(self, layers, weights, input_shape=(32, 32, 1), meta=None, *, input=None,
                 output=None):
        self.layers = [dict(layer) for layer in layers]
        self.weights = {str(k): np.ascontiguousarray(v, dtype=np.float32)
                        for k, v in weights.items()}
        self.input_shape = tuple(int(n) for n in input_shape)
        self.meta = dict(meta) if meta else {}
        self.input = _check_input_spec(input, self.input_shape)
        self.output = _check_output_spec(output)
        mlp.check_layers(self.layers, self.weights, self.input_shape)
        out = mlp.output_shape(self.layers, self.input_shape)
        if not out or out[-1] != (1,):
            raise ValueError("the last layer must give one value per sample, "
                             f"not shape {out[-1] if out else self.input_shape}")
        n_features = len(self.input.get("features", []))
        sizes = {int(layer["size"]) for layer in self.layers if layer["type"] == "concat"}
        if sizes - {n_features} or (n_features and not sizes):
            raise ValueError(f"the network's concat layers take {sorted(sizes) or 0} values but "
                             f"the input gives {n_features} features")
        try:
            json.dumps(self.meta)
        except TypeError as exc:
            raise TypeError(f"meta must be JSON-serialisable: {exc}") from None

    @property
    def name(self):
        """The model's name (``meta['name']``), or None."""
        return self.meta.get("name")

    @property
    def n_params(self):
        """Number of weights and biases."""
        return int(sum(w.size for w in self.weights.values()))

    @property
    def n_features(self):
        """Number of symmetry features the network takes beside the image."""
        return len(self.input.get("features", []))

    def prepare(self, fields, *, errors="nan"):
        """This model's input for velocity fields.

        Parameters
        ----------
        fields : `~kinmisalign.VelocityField`, `~kinmisalign.MapsData` or sequence of them
            2-D velocity maps; a `~kinmisalign.MapsData` gives its stellar then
            its gas field.
        errors : {'nan', 'raise'}, optional
            What to do with a field that cannot be normalised: NaN input and a
            reason, or `NotClassifiableError`.

        Returns
        -------
        `ModelInput`
        """
        from ._input import _prepare, _prepare_footprint

        if self.input["kind"] == "duckworth2020":
            x, reasons = _prepare(fields, errors=errors, size=self.input_shape[0])
            return ModelInput(x, None, reasons)
        x, features, reasons = _prepare_footprint(
            fields, errors=errors, size=self.input["size"], margin=self.input["margin"])
        extra = None
        if self.n_features:
            from .._core.footprint import FEATURE_NAMES

            columns = [FEATURE_NAMES.index(name) for name in self.input["features"]]
            extra = ((features[:, columns] - np.asarray(self.input["feature_mean"]))
                     / np.asarray(self.input["feature_scale"])).astype(np.float32)
        return ModelInput(x, extra, reasons)

    def predict_fields(self, fields, batch_size=8192):
        """Probability that each field is usable, and why a field could not be classified.

        Parameters
        ----------
        fields : `~kinmisalign.VelocityField`, `~kinmisalign.MapsData` or sequence of them
            As for `prepare`.
        batch_size : int, optional
            Samples evaluated at once.

        Returns
        -------
        probabilities : numpy.ndarray
            float32, NaN for fields that cannot be classified.
        reasons : list of str
            ``''`` for classified fields.
        """
        inputs = self.prepare(fields, errors="nan")
        return self.predict(inputs.x, inputs.extra, batch_size=batch_size), inputs.reasons

    def predict(self, x, extra=None, batch_size=8192):
        """Probability that each input field is usable.

        Parameters
        ----------
        x : array-like
            Network input (see `prepare`) of shape ``(n,) + input_shape``;
            a missing trailing channel axis is added.
        extra : array-like, optional
            ``(n, n_features)`` standardised features, for models that take
            them (`ModelInput.extra`).
        batch_size : int, optional
            Samples evaluated at once (bounds the memory used).

        Returns
        -------
        numpy.ndarray
            float32 probabilities, shape ``(n,)``. Samples holding NaN give NaN.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] == self.input_shape[:-1] and self.input_shape[-1] == 1:
            x = x[..., np.newaxis]
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input must have shape (n, {', '.join(map(str, self.input_shape))})"
                             f", not {x.shape}")
        if self.n_features:
            if extra is None:
                raise ValueError(f"this model needs {self.n_features} features per sample "
                                 "beside the image (see UsabilityModel.prepare)")
            extra = np.asarray(extra, dtype=np.float32)
            if extra.shape != (len(x), self.n_features):
                raise ValueError(f"extra must have shape ({len(x)}, {self.n_features}), "
                                 f"not {extra.shape}")
        elif extra is not None:
            raise ValueError("this model takes no features beside the image")
        out = np.empty(len(x), dtype=np.float32)
        step = int(batch_size)
        for start in range(0, len(x), step):
            chunk = x[start:start + step]
            more = None if extra is None else extra[start:start + step]
            out[start:start + len(chunk)] = self._probability(chunk, more)
        return out

    def _value(self, x, extra):
        """The last layer's value per sample."""
        return mlp.forward(x, self.layers, self.weights, extra)[:, 0]

    def _probability(self, x, extra):
        output = self.output
        turns = range(8) if output["average"] == "dihedral" else range(1)
        values = [self._value(np.ascontiguousarray(_dihedral(x, k)), extra) for k in turns]
        if not output["logit"] and output["calibration"] is None and len(values) == 1:
            return values[0]  # a plain probability, as version 1 files give
        z = np.mean([v if output["logit"] else _log_odds(v) for v in values], axis=0)
        calibration = output["calibration"]
        if calibration is not None:
            z = calibration["slope"] * z + calibration["intercept"]
        return mlp.ACTIVATIONS["sigmoid"](np.asarray(z, dtype=np.float64)).astype(np.float32)

    # -- storage ------------------------------------------------------------------------------
    def _header(self):
        header = {"format": FORMAT_NAME, "version": 1, "input_shape": list(self.input_shape),
                  "layers": self.layers, "meta": self.meta}
        if self.input != _DEFAULT_INPUT or self.output != _DEFAULT_OUTPUT:
            # Files that need nothing of version 2 stay readable by older versions.
            header.update(version=2, input=self.input, output=self.output)
        return header

    def save(self, path, overwrite=False):
        """Write the model to a ``.npz`` file (no pickle; format in the module docstring).

        Parameters
        ----------
        path : str or path-like
            Destination; written atomically (a temporary file, then renamed).
        overwrite : bool, optional
            Replace an existing file; without it an existing file is an error.

        Raises
        ------
        FileExistsError
            When ``path`` exists and ``overwrite`` is False.
        """
        from .._files import publish, refuse_existing

        path = os.fspath(path)
        if not overwrite:
            refuse_existing([path])
        header = np.frombuffer(json.dumps(self._header()).encode("utf-8"), dtype=np.uint8)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{_HEADER_KEY: header}, **self.weights)
            publish(tmp, path, overwrite)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path):
        """Read a model written by `save`.

        The file is never unpickled: numpy reads it with ``allow_pickle=False``
        and only plain numeric arrays are accepted.

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` model file.

        Returns
        -------
        `UsabilityModel`

        Raises
        ------
        ValueError
            When the file is not a kinmisalign model file (a pickle, a single
            ``.npy`` array, a Keras or HDF5 file, an archive holding Python
            objects...) or describes an inconsistent network; the message
            names the problem.
        FileNotFoundError
            When there is no such file.
        """
        path = os.fspath(path)
        with open(path, "rb") as fh:
            magic = fh.read(8)
        if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            raise ValueError(f"{path} is not a kinmisalign model file: {_kind_of(magic)}, "
                             f"not a .npz archive written by UsabilityModel.save")
        try:
            with zipfile.ZipFile(path) as zf:
                unpacked = sum(info.file_size for info in zf.infolist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{path} is not a readable .npz archive: {exc}") from exc
        if unpacked > _MAX_UNPACKED:
            raise ValueError(f"{path} would unpack to {unpacked} bytes, far more than any "
                             f"usability model; refused")
        try:
            archive = np.load(path, allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path} is not a readable .npz archive: {exc}") from exc
        with archive:
            names = set(archive.files)
            if _HEADER_KEY not in names:
                hint = (" (it looks like a Keras .keras file: load it with "
                        "UsabilityModel.from_keras_file)" if "config.json" in names else "")
                raise ValueError(f"{path} is not a kinmisalign model file (no {_HEADER_KEY})"
                                 f"{hint}")
            arrays = {name: _plain_array(archive, name, path) for name in archive.files}
        raw = arrays.pop(_HEADER_KEY)
        try:
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"{_HEADER_KEY} must be a 1-d uint8 array")
            header = json.loads(raw.tobytes().decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("the header is not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a kinmisalign model file: unreadable header "
                             f"({exc})") from None
        if header.get("format") != FORMAT_NAME:
            raise ValueError(f"{path} is not a kinmisalign model file")
        try:
            version = int(header.get("version", 0))
        except (TypeError, ValueError):
            raise ValueError(f"{path} has an invalid format version "
                             f"{header.get('version')!r}") from None
        if version > FORMAT_VERSION:
            raise ValueError(f"{path} has format version {version}; this "
                             f"kinmisalign reads up to {FORMAT_VERSION}: please upgrade")
        try:
            return cls(header["layers"], arrays, header["input_shape"], header.get("meta"),
                       input=header.get("input"), output=header.get("output"))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{path} holds an invalid model: {what}") from None

    @classmethod
    def from_keras_file(cls, path, meta=None):
        """Read a Keras 3 model file (``.keras`` or legacy ``.h5``) and export it.

        Keras loads it in *safe mode*: a file that would run Python code on
        loading (a ``Lambda`` layer holding a Python function, pickled
        objects) is refused. Needs the extra ``nn``.

        Parameters
        ----------
        path : str or path-like
            A file written by ``keras.Model.save``.
        meta : dict, optional
            Description stored with the model; default ``{'source': path}``.

        Returns
        -------
        `UsabilityModel`

        Raises
        ------
        ValueError
            When Keras refuses or cannot read the file, or the network has
            layers `from_keras` does not support.
        """
        from ._keras import import_keras

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no Keras model file {path!r}")
        keras = import_keras()
        try:
            net = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many kinds for files it refuses
            raise ValueError(f"{path} could not be loaded as a Keras model in safe mode: "
                             f"{type(exc).__name__}: {exc}") from None
        return cls.from_keras(net, meta={"source": path} if meta is None else meta)

    # -- Keras --------------------------------------------------------------------------------
    @classmethod
    def from_keras(cls, model, meta=None):
        """Export a Keras 3 sequential model (e.g. after training).

        Parameters
        ----------
        model : keras.Model
            A model made of Flatten, Dense, Dropout, Conv2D (stride 1, valid
            padding) and MaxPooling2D layers, channels-last.
        meta : dict, optional
            Description stored with the model.

        Returns
        -------
        `UsabilityModel`
        """
        from ._keras import layers_from_keras

        layers, weights = layers_from_keras(model)
        return cls(layers, weights, tuple(model.input_shape[1:]), meta)

    def to_keras(self):
        """A Keras 3 model with this architecture and these weights (extra ``nn``).

        Returns
        -------
        keras.Model
            A `keras.Sequential`, or a functional model of two inputs
            ``[images, features]`` when the network takes features. The
            input preparation and the output's averaging and calibration
            are not part of it.
        """
        from ._keras import keras_from_layers

        return keras_from_layers(self.layers, self.weights, self.input_shape, self.n_features)

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        kinds = "-".join(layer["type"] for layer in self.layers if layer["type"] != "dropout")
        return f"<UsabilityModel{label}: {kinds}, {self.n_params} parameters>"
