"""classify: usability probabilities and flags for velocity fields."""

import os

import numpy as np

from ..config import conf
from ..fields import MapsData, VelocityField
from ._model import UsabilityModel

__all__ = ["classify", "load_model"]

# Published models already read in this session, by name.
_LOADED = {}


def load_model(model=None):
    """A usability model, by name or path.

    Parameters
    ----------
    model : str, path-like or `UsabilityModel`, optional
        ``'embedded'`` (alias of ``'kinmisalign-footprint-v2'``): the
        network shipped with kinmisalign, pretrained on mock MaNGA velocity
        fields and fine-tuned and calibrated on real expert-labelled maps by
        ``scripts/train_embedded_model.py``; it needs neither TensorFlow nor
        a download. ``'kinmisalign-mock-v1'``: the previous embedded network
        (mocks only; superseded).
        ``'duckworth2020'``: the published network of Duckworth et al. (2020).
        On first use its three SavedModel files are read from
        ``conf.published_model_dir`` when set, otherwise downloaded from
        ``conf.published_model_url`` (the authors' repository, at a pinned
        commit) through astropy's download cache; their sizes and SHA-256 are
        checked, and the weights are read from its checkpoint with numpy
        (no TensorFlow needed) and cached in kinmisalign's own format in its
        cache directory, so later loads need neither download nor checkpoint.
        A path: a model file written by `UsabilityModel.save` (read
        without unpickling), or a Keras 3 ``.keras``/``.h5`` file, read in
        Keras' safe mode (see `UsabilityModel.from_keras_file`; extra ``nn``),
        or a TensorFlow SavedModel folder (``saved_model.pb``,
        ``variables/variables.index`` and ``.data-*``) holding a published
        network, e.g. a clone of the authors' repository: recognised by the
        SHA-256 of its files, its weights read with numpy (no TensorFlow, no
        download); the architecture of other SavedModels is not known.
        Default: ``conf.usability_model``.

    Returns
    -------
    `UsabilityModel`
    """
    if model is None:
        model = conf.usability_model
    if isinstance(model, UsabilityModel):
        return model
    from ._embedded import EMBEDDED_ALIASES, EMBEDDED_MODELS, embedded_model_path
    from ._published import PUBLISHED_MODELS, converted_model_path, load_published_model

    if isinstance(model, str) and (model in EMBEDDED_MODELS or model in EMBEDDED_ALIASES):
        path = embedded_model_path(model)
        key = (EMBEDDED_ALIASES.get(model, model), str(path))
        if key not in _LOADED:
            if not path.is_file():
                raise FileNotFoundError(f"the embedded model file {path} is missing from this "
                                        "installation of kinmisalign")
            _LOADED[key] = UsabilityModel.load(path)
        return _LOADED[key]

    if isinstance(model, str) and model in PUBLISHED_MODELS:
        # Keyed by the cache file too, so a changed cache directory is honoured.
        key = (model, str(converted_model_path(model)))
        if key not in _LOADED or not os.path.exists(key[1]):
            _LOADED[key] = load_published_model(model)
        return _LOADED[key]
    if isinstance(model, (str, os.PathLike)):
        if os.path.isdir(model):
            from ._published import load_saved_model

            return load_saved_model(model)
        if not os.path.isfile(model):
            raise FileNotFoundError(f"no model file {os.fspath(model)!r} (named models: "
                                    f"{', '.join([*EMBEDDED_ALIASES, *EMBEDDED_MODELS])}, "
                                    f"{', '.join(PUBLISHED_MODELS)})")
        if os.fsdecode(model).lower().endswith((".keras", ".h5", ".hdf5")):
            return UsabilityModel.from_keras_file(model)
        return UsabilityModel.load(model)
    raise TypeError(f"model must be a name, a path or a UsabilityModel, not {type(model).__name__}")


def _describe(name, suffix, threshold):
    what = f" of the {suffix} field" if suffix else ""
    return {
        "prob": f"Network probability that the velocity field{what} is usable "
                "(masked when the field cannot be classified)",
        "flag": f"Velocity field{what} usable: probability > {threshold:g} (False when "
                "the field cannot be classified)",
        "reason": f"Why the velocity field{what} could not be classified ('' when it was)",
    }[name]


def _columns(probs, reasons, threshold, suffix):
    from astropy.table import MaskedColumn

    tag = f"_{suffix.upper()}" if suffix else ""
    missing = np.isnan(probs)
    usable = np.where(missing, False, probs > threshold)
    return [
        MaskedColumn(probs, name=f"USABLE_PROB{tag}", mask=missing, dtype=np.float32,
                     description=_describe("prob", suffix, threshold)),
        # Never masked: a masked boolean reads True when filled, in FITS and in ECSV.
        MaskedColumn(usable, name=f"USABLE{tag}", mask=np.zeros(len(usable), dtype=bool),
                     dtype=bool, fill_value=False,
                     description=_describe("flag", suffix, threshold)),
        MaskedColumn(np.array(reasons, dtype=str), name=f"USABLE_REASON{tag}",
                     description=_describe("reason", suffix, threshold)),
    ]


def classify(fields_or_maps, model=None, threshold=None, *, batch_size=8192):
    """Probability that each velocity field is usable, and the usable flag.

    Parameters
    ----------
    fields_or_maps : `~kinmisalign.VelocityField`, `~kinmisalign.MapsData` or sequence
        2-D velocity maps (e.g. from `~kinmisalign.read_maps`): one field, one
        observation (its stellar and gas fields), or a sequence of fields or of
        observations (not mixed).
    model : str, path-like or `UsabilityModel`, optional
        The network (see `load_model`); default ``conf.usability_model``
        (``'embedded'``, the network shipped with kinmisalign).
    threshold : float, optional
        A field is usable when its probability is above this; default
        ``conf.usable_threshold`` (0.5).
    batch_size : int, optional
        Fields evaluated at once.

    Returns
    -------
    `~astropy.table.Table`
        One row per input, in input order. For fields: ``FIELD`` (the
        field's name), ``USABLE_PROB`` (float32), ``USABLE`` (bool) and
        ``USABLE_REASON`` (str). For observations: ``PLATEIFU`` and
        ``USABLE_PROB_STELLAR``, ``USABLE_STELLAR``, ``USABLE_REASON_STELLAR``
        and the same for ``GAS``, as in the catalogue columns. A field
        that cannot be normalised (no unmasked spaxel, or all unmasked
        velocities zero) has a masked probability, ``USABLE`` False (never
        masked, so that no file format can make it True) and its reason
        given, so one bad field never stops a batch. ``meta`` records the
        model and the threshold.

    Raises
    ------
    NotClassifiableError
        When a single `~kinmisalign.VelocityField` is given and it cannot be
        normalised.

    Examples
    --------
    Judge both fields of a mock galaxy (`kinmisalign.mock` writes the MAPS
    file) with the embedded network, which needs no TensorFlow:

    >>> import tempfile
    >>> from kinmisalign.mock import FieldModel, MockGalaxy, write_maps
    >>> galaxy = MockGalaxy(plateifu="8000-3703", inclination=55,
    ...                     stellar=FieldModel(pa=30.0, vmax=160.0, noise=6.0),
    ...                     gas=FieldModel(pa=250.0, vmax=200.0, noise=4.0))
    >>> from kinmisalign import classify, read_maps
    >>> maps = read_maps(write_maps(galaxy, tempfile.mkdtemp(), seed=1))
    >>> result = classify(maps)
    >>> print(result["PLATEIFU", "USABLE_STELLAR", "USABLE_GAS"])
     PLATEIFU USABLE_STELLAR USABLE_GAS
    --------- -------------- ----------
    8000-3703           True       True
    >>> print(f"{result['USABLE_PROB_STELLAR'][0]:.2f}")
    1.00

    One field alone gives one row per field:

    >>> print(classify(maps.gas)["FIELD", "USABLE"])
    FIELD USABLE
    ----- ------
      gas   True
    """
    from astropy.table import Table  # slow to import: only when needed

    threshold = float(conf.usable_threshold if threshold is None else threshold)
    single = isinstance(fields_or_maps, (VelocityField, MapsData))
    items = [fields_or_maps] if single else list(fields_or_maps)
    for item in items:
        if not isinstance(item, (VelocityField, MapsData)):
            raise TypeError(f"expected VelocityField or MapsData inputs, not {type(item).__name__}")
    per_obs = all(isinstance(item, MapsData) for item in items) and bool(items)
    if not per_obs and any(isinstance(item, MapsData) for item in items):
        raise TypeError("give either velocity fields or MapsData observations, not a mix")

    errors = "raise" if single and isinstance(fields_or_maps, VelocityField) else "nan"
    net = load_model(model)
    inputs = net.prepare(items, errors=errors)
    probs = net.predict(inputs.x, inputs.extra, batch_size=batch_size).astype(np.float32)
    reasons = inputs.reasons

    meta = {"USABILITY_MODEL": net.name or "custom", "USABLE_THRESHOLD": threshold}
    if per_obs:
        table = Table(meta=meta)
        table["PLATEIFU"] = np.array([m.plateifu or "" for m in items], dtype=str)
        for offset, suffix in ((0, "stellar"), (1, "gas")):
            for col in _columns(probs[offset::2], reasons[offset::2], threshold, suffix):
                table.add_column(col)
        return table
    table = Table(meta=meta)
    table["FIELD"] = np.array([f.name or "" for f in items], dtype=str)
    for col in _columns(probs, reasons, threshold, ""):
        table.add_column(col)
    return table
