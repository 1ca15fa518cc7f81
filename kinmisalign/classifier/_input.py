"""Network input of the usability classifiers, for one field or a batch.

Two forms: the published network's (`prepare_input`, SPEC section 6: the whole
array, values at masked spaxels included) and the footprint form of
kinmisalign's own models (`kinmisalign._core.footprint`: good spaxels only,
centred on the galaxy, with symmetry features).
"""

import numpy as np
from astropy import units as u

from .._core import footprint
from .._core.resize import resize_cubic
from ..fields import MapsData, VelocityField

__all__ = ["prepare_input", "INPUT_SIZE", "NotClassifiableError"]

_KMS = u.km / u.s  # a unit object: parsing "km/s" per field costs more than the resize

INPUT_SIZE = 32
"""Side, in pixels, of the square image a network sees: every map is resized to it."""


class NotClassifiableError(ValueError):
    """A velocity field cannot be turned into network input (e.g. nothing unmasked)."""


def _as_field_list(fields):
    if isinstance(fields, VelocityField):
        return [fields], True
    if isinstance(fields, MapsData):
        return [fields.stellar, fields.gas], False
    try:
        items = list(fields)
    except TypeError:
        raise TypeError("expected a VelocityField, a MapsData or a sequence of them, not "
                        f"{type(fields).__name__}") from None
    out = []
    for item in items:
        if isinstance(item, MapsData):
            out += [item.stellar, item.gas]
        elif isinstance(item, VelocityField):
            out.append(item)
        else:
            raise TypeError(f"expected VelocityField or MapsData items, not {type(item).__name__}")
    return out, False


def _normalised(field):
    """The field's full map divided by max |v| over unmasked spaxels, or a reason it can't be."""
    if not field.is_map:
        raise TypeError(f"{field!r} is a point list: the network needs the full 2-D map")
    values = np.array(field.velocity.to_value(_KMS), dtype=np.float64)
    good = field.good
    if not good.any():
        return None, "no unmasked spaxel"
    vmax = np.max(np.abs(values[good]))
    if not vmax > 0:
        return None, "all unmasked velocities are zero"
    # The DAP stores 0 where nothing was measured; NaN would spread through the resize.
    values[~np.isfinite(values)] = 0.0
    return values / vmax, ""


def prepare_input(fields, *, errors="raise", size=INPUT_SIZE):
    """Network input for one velocity field or a batch, exactly as the published model expects.

    For each field: the full square map, including the values stored
    at masked spaxels, is divided by the largest absolute velocity over the
    unmasked spaxels (``field.good``), then resized to ``size`` x ``size`` with
    OpenCV's bicubic ``INTER_CUBIC`` convolution (reimplemented; no OpenCV
    needed). Resized values may overshoot [-1, 1]. The array orientation is
    kept (no flips). Non-finite values at masked spaxels are read as 0, as the
    DAP stores them.

    Parameters
    ----------
    fields : `~kinmisalign.VelocityField`, `~kinmisalign.MapsData` or sequence of them
        2-D velocity maps; a `~kinmisalign.MapsData` gives its stellar then its
        gas field.
    errors : {'raise', 'nan'}, optional
        What to do with a field that cannot be normalised (no unmasked spaxel,
        or all unmasked velocities zero): raise `NotClassifiableError`, or
        fill its sample with NaN.
    size : int, optional
        Output size (32 for the published networks).

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n_fields, size, size, 1)``.

    Raises
    ------
    NotClassifiableError
        With ``errors='raise'``, naming the field that cannot be normalised.
    TypeError
        For point-list fields or inputs that are not fields.
    """
    x, _ = _prepare(fields, errors=errors, size=size)
    return x


def _prepare(fields, *, errors="raise", size=INPUT_SIZE):
    """`prepare_input` plus the reason ('' when fine) of each field."""
    if errors not in ("raise", "nan"):
        raise ValueError(f"errors must be 'raise' or 'nan', not {errors!r}")
    items, _ = _as_field_list(fields)
    out = np.full((len(items), size, size, 1), np.nan, dtype=np.float32)
    reasons = [""] * len(items)
    by_shape = {}
    for index, field in enumerate(items):
        values, reason = _normalised(field)
        if values is None:
            if errors == "raise":
                label = f" {field.name!r}" if field.name else ""
                raise NotClassifiableError(
                    f"velocity field{label} cannot be normalised for the network: {reason}")
            reasons[index] = reason
            continue
        by_shape.setdefault(values.shape, []).append((index, values))
    # One stacked matrix product per map size.
    for group in by_shape.values():
        indices = [index for index, _ in group]
        stack = np.stack([values for _, values in group])
        out[indices, :, :, 0] = resize_cubic(stack, (size, size))
    return out, reasons


def _centre2(field):
    """Twice the (row, column) index of the galaxy centre of a map, from its offsets."""
    return footprint.centre_index2(field.x.to_value(u.arcsec), field.y.to_value(u.arcsec))


def _prepare_footprint(fields, *, errors="nan", size=INPUT_SIZE, margin=1):
    """Footprint input, symmetry features and reasons ('' when fine) of fields.

    Returns
    -------
    x : numpy.ndarray
        float32 ``(n, size, size, 2)``, NaN for fields that cannot be used.
    features : numpy.ndarray
        float64 ``(n, len(FEATURE_NAMES))``, NaN likewise.
    reasons : list of str
    """
    if errors not in ("raise", "nan"):
        raise ValueError(f"errors must be 'raise' or 'nan', not {errors!r}")
    items, _ = _as_field_list(fields)
    x = np.full((len(items), size, size, 2), np.nan, dtype=np.float32)
    features = np.full((len(items), len(footprint.FEATURE_NAMES)), np.nan)
    reasons = [""] * len(items)
    for index, field in enumerate(items):
        if not field.is_map:
            raise TypeError(f"{field!r} is a point list: the network needs the full 2-D map")
        good = field.good
        reason = ""
        if not good.any():
            reason = "no unmasked spaxel"
        else:
            values = field.velocity.to_value(_KMS)
            centre2 = _centre2(field)
            image = footprint.footprint_image(values, good, centre2, size=size, margin=margin)
            if image is None:
                reason = "all unmasked velocities are equal"
            else:
                x[index] = image
                features[index] = footprint.symmetry_features(values, good, centre2)
        if reason:
            if errors == "raise":
                label = f" {field.name!r}" if field.name else ""
                raise NotClassifiableError(
                    f"velocity field{label} cannot be used by the network: {reason}")
            reasons[index] = reason
    return x, features, reasons
