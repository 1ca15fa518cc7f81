"""Cleaning of velocity fields before the position-angle fit."""

import numpy as np

from ._core.cleaning import NEIGHBOUR_TOLERANCE, island_keep_mask, sigma_clip_keep_mask
from .fields import VelocityField

__all__ = ["clean_velocity_field"]


def clean_velocity_field(field, island_fraction=0.1, sigma=3.0, maxiters=5, *,
                         neighbour_tolerance=NEIGHBOUR_TOLERANCE):
    """Remove detached regions and outlying velocities from a velocity field.

    Following Duckworth et al. (2020), applied to the usable spaxels
    (``field.good``):

    1. the connected regions of usable spaxels are found with 4-neighbour
       (edge) connectivity, and every region with fewer than
       ``island_fraction`` times the number of usable spaxels is dropped;
    2. the remaining velocities are sigma-clipped about their median with the
       standard deviation as scale, and clipped spaxels are dropped.

    A map is labelled on its grid. A point list (e.g. a rotated field) is
    labelled through a neighbour graph: two points are neighbours when closer
    than ``neighbour_tolerance`` times the median nearest-neighbour distance,
    which reproduces 4-connectivity for points on a regular grid (the spacing
    is inferred from the points, so a sparse list, e.g. one diagonal line, is
    not labelled as its grid would be).

    Parameters
    ----------
    field : `~kinmisalign.VelocityField`
        The field to clean.
    island_fraction : float, optional
        Minimum size of a kept region, as a fraction of the usable spaxels
        (default 0.1). 0 or None keeps every region.
    sigma : float or None, optional
        Clipping threshold in standard deviations (default 3). None disables
        clipping.
    maxiters : int or None, optional
        Maximum number of clipping iterations (default 5); None iterates
        until nothing more is clipped.
    neighbour_tolerance : float, optional
        Neighbour distance for point lists, in grid spacings (default 1.01).

    Returns
    -------
    `~kinmisalign.VelocityField`
        A new field with the same arrays and shape (a map stays a map) whose
        ``good`` selection is narrowed. ``meta['cleaning']`` records the counts
        ``'valid'`` (usable before cleaning), ``'removed_islands'``,
        ``'removed_clipped'`` and ``'kept'``, and the parameters used.
    """
    if not isinstance(field, VelocityField):
        raise TypeError(f"field must be a VelocityField, not {type(field).__name__}")
    if island_fraction is not None and not 0 <= island_fraction <= 1:
        raise ValueError(f"island_fraction must be between 0 and 1, not {island_fraction}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be positive or None, not {sigma}")
    if maxiters is not None and (int(maxiters) != maxiters or maxiters < 1):
        raise ValueError(f"maxiters must be a positive integer or None, not {maxiters}")

    valid = np.array(field.good, dtype=bool)
    if field.is_map:
        after_islands = island_keep_mask(valid, island_fraction)
    else:
        after_islands = island_keep_mask(valid, island_fraction, x=field.x.value,
                                         y=field.y.value, tolerance=neighbour_tolerance)

    kept = after_islands.copy()
    if sigma is not None and after_islands.any():
        velocities = field.velocity.to_value("km/s")[after_islands]
        kept[after_islands] = sigma_clip_keep_mask(velocities, sigma=sigma, maxiters=maxiters)

    n_valid = int(valid.sum())
    n_islands = int(after_islands.sum())
    n_kept = int(kept.sum())
    meta = dict(field.meta)
    meta["cleaning"] = {
        "valid": n_valid,
        "removed_islands": n_valid - n_islands,
        "removed_clipped": n_islands - n_kept,
        "kept": n_kept,
        "island_fraction": island_fraction,
        "sigma": sigma,
        "maxiters": maxiters,
    }
    return field.replace(good=kept, meta=meta)
