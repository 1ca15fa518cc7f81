"""Quality-assessment figures: velocity fields with their fitted axes, and ΔPA histograms.

Matplotlib is imported inside the functions so that ``import kinmisalign``
stays fast and works without a display. Figures are built with the
object-oriented API (`matplotlib.figure.Figure`), never through pyplot, so
nothing here touches global plotting state.
"""

import numpy as np
from astropy import units as u

__all__ = ["plot_velocity_fields", "plot_misalignment_histogram"]

# ΔPA class boundaries (deg): aligned < 30, misaligned 30-150, counter-rotating >= 150.
_CLASS_EDGES = (30.0, 150.0)

_CMAP = "RdBu_r"  # red = receding, blue = approaching, white = systemic
_EMPTY_FACE = "0.88"  # background grey, so near-systemic (white) spaxels stay visible


def _to_float(value, unit):
    """A plain float in ``unit`` from a Quantity, a number or None (-> NaN)."""
    if value is None:
        return np.nan
    if isinstance(value, u.Quantity):
        return float(value.to_value(unit))
    return float(value)


def _fit_angles(fit):
    """``(pa, pa_err)`` in degrees from a fit result (NaN where unknown)."""
    if fit is None:
        return np.nan, np.nan
    return _to_float(getattr(fit, "pa", None), u.deg), _to_float(getattr(fit, "pa_err", None),
                                                                  u.deg)


def _format_angle(name, value, err):
    """``'PA = 163.5 ± 1.2°'``, dropping the error when it is unknown."""
    if not np.isfinite(value):
        return f"{name} not measured"
    if np.isfinite(err):
        return f"{name} = {value:.1f} ± {err:.1f}°"
    return f"{name} = {value:.1f}°"


def _format_usability(p, threshold):
    """``'p(usable) = 0.998: usable'``, or that the network could not judge the field."""
    p = _to_float(p, u.dimensionless_unscaled)
    if not np.isfinite(p):
        return "usability: not classified"
    return f"p(usable) = {p:.3f}: {'usable' if p > threshold else 'UNUSABLE'}"


def _has_data(field):
    return field is not None and field.n_good > 0


def _draw_empty(ax, message):
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center",
            color="0.3", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_box_aspect(1)  # the same square shape as a panel with data


def _marker_size(x, y, extent, axes_width_pt):
    """Scatter marker area (pt²) that roughly tiles the sky like the spaxels do."""
    if x.size < 2:
        return 36.0
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    spacing = np.median(dist[:, 1])
    if not np.isfinite(spacing) or spacing <= 0:
        return 36.0
    side = spacing / (2 * extent) * axes_width_pt
    return float(np.clip(side, 1.0, 30.0) ** 2)


def _sense_determined(fit):
    """False only for a fit that says its sense of rotation is undetermined."""
    return fit is None or bool(getattr(fit, "sense_determined", True))


def _draw_axes(ax, pa, radius, sense_determined=True):
    """Draw the major axis (solid, arrow to the receding end when the sense of rotation is
    measured) and the minor axis (dashed)."""
    theta = np.deg2rad(pa)
    # PA is East of North: the receding end is at (x, y) = radius * (sin PA, cos PA).
    xr, yr = radius * np.sin(theta), radius * np.cos(theta)
    (major,) = ax.plot([-xr, xr], [-yr, yr], color="k", lw=1.6, ls="-",
                       label="major axis (arrow: receding)" if sense_determined
                       else "major axis (sense of rotation undetermined)")
    major.set_gid("major-axis")
    if sense_determined:  # no arrow where the two sides do not differ: it would be a guess
        ax.annotate("", xy=(xr, yr), xytext=(0.72 * xr, 0.72 * yr),
                    arrowprops=dict(arrowstyle="-|>", color="k", lw=1.6, mutation_scale=16),
                    gid="receding-arrow")
    (minor,) = ax.plot([-yr, yr], [xr, -xr], color="k", lw=1.2, ls="--", label="minor axis")
    minor.set_gid("minor-axis")


def _draw_field(ax, field, fit, label, vlim, axes_width_pt):
    """One sky panel; returns the colour mappable or None for an empty panel."""
    ax.set_label(label.lower())
    pa, pa_err = _fit_angles(fit)
    title = f"{label}: {_format_angle('PA', pa, pa_err)}" if fit is not None else label
    if not _sense_determined(fit):
        title += " (sense undetermined)"
    ax.set_title(title)
    ax.set_xlabel("ΔRA / arcsec (East to the left)")
    ax.set_ylabel("ΔDec / arcsec")

    if not _has_data(field):
        what = label.lower()
        _draw_empty(ax, f"no {what} velocity field" if field is None
                    else f"no usable {what} spaxels")
        return None

    x, y, v, _ = field.points()
    x, y, v = x.to_value(u.arcsec), y.to_value(u.arcsec), v.to_value(u.km / u.s)

    vsys = _to_float(getattr(fit, "vsys", None), u.km / u.s) if fit is not None else np.nan
    if not np.isfinite(vsys):
        vsys = float(np.median(v))
    if vlim is None:
        half = float(np.percentile(np.abs(v - vsys), 98))
    else:
        half = _to_float(vlim, u.km / u.s)
    if not (np.isfinite(half) and half > 0):
        half = 1.0  # a flat field: any non-zero range shows it as white
    norm = dict(vmin=vsys - half, vmax=vsys + half, cmap=_CMAP)

    ax.set_facecolor(_EMPTY_FACE)
    extent = float(np.max(np.hypot(x, y)))
    coords_ok = field.is_map and np.all(np.isfinite(field.x.value) & np.isfinite(field.y.value))
    if coords_ok:
        # A map is drawn cell by cell at its own sky coordinates, which keeps
        # the DAP orientation (East at column 0) without flipping arrays.
        vel = np.ma.masked_array(field.velocity.to_value(u.km / u.s), mask=~field.good)
        # Explicit cell corners: the DAP's centres jitter by ~1e-5 arcsec, which
        # matplotlib's own edge guessing warns about.
        mappable = ax.pcolormesh(_cell_corners(field.x.to_value(u.arcsec)),
                                 _cell_corners(field.y.to_value(u.arcsec)), vel,
                                 shading="flat", rasterized=True, **norm)
        step = float(np.nanmedian(np.abs(np.diff(field.x.to_value(u.arcsec), axis=1))))
        extent += step if np.isfinite(step) else 0.0
    else:
        extent = max(extent, 1e-3) * 1.05
        mappable = ax.scatter(x, y, c=v, marker="s", linewidths=0,
                              s=_marker_size(x, y, extent, axes_width_pt), **norm)

    if np.isfinite(pa):
        _draw_axes(ax, pa, extent, _sense_determined(fit))
    ax.plot([0], [0], marker="+", color="k", ms=8, ls="none")
    # East to the left, North up, as on a sky image.
    ax.set_xlim(extent, -extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    return mappable


def _cell_corners(centres):
    """Corners of the cells of a 2-D grid of cell centres, shape (ny + 1, nx + 1)."""
    # Extend the grid by one cell on each side linearly, then average 2x2 blocks.
    padded = np.pad(centres, 1, mode="reflect", reflect_type="odd")
    return 0.25 * (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:])


def plot_velocity_fields(stellar, gas=None, stellar_fit=None, gas_fit=None, *, title=None,
                         figure=None, vlim=None, usability=None, threshold=0.5):
    """Draw the stellar and gas velocity fields of one galaxy with their fitted axes.

    Each panel shows the usable (``good``) spaxels on the sky with East to the
    left and North up, coloured by velocity on a diverging scale centred on
    the systemic velocity. When a fit is given, the kinematic major axis is
    drawn solid with an arrow at the receding end, the minor axis dashed, and
    the panel title gives ``PA = value ± 1σ``. A fit whose sense of rotation
    is undetermined (``sense_determined`` False) gets no arrow, a title that
    says so, and no ΔPA. With both fits the figure title
    also gives the misalignment ΔPA.

    Parameters
    ----------
    stellar : `~kinmisalign.VelocityField` or None
        The stellar velocity field (usually after cleaning). Maps are drawn
        cell by cell, point lists as square markers.
    gas : `~kinmisalign.VelocityField` or None, optional
        The ionised-gas velocity field. A missing field, or one without
        usable spaxels, gives an empty panel that says so.
    stellar_fit, gas_fit : `~kinmisalign.pa.PAFit`, optional
        Position-angle fits of the two fields: any object with ``pa`` and
        ``pa_err`` (Quantities in deg, East of North to the receding side)
        and optionally ``vsys`` (km/s) will do.
    title : str, optional
        Figure title, e.g. the plate-IFU. Defaults to the ``PLATEIFU`` entry
        of the stellar field's ``meta``, if any.
    figure : `~matplotlib.figure.Figure`, optional
        Figure to draw into; it is cleared first (and given the constrained
        layout engine if it has none). By default a new one is made without
        pyplot, so it is not shown or kept by any GUI; pass
        ``figure=plt.figure()`` to get one that pyplot manages.
    vlim : `~astropy.units.Quantity` or float, optional
        Half-range of the colour scale around the systemic velocity (km/s
        when a plain number), the same for both panels. By default each
        panel uses the 98th percentile of its ``|v - vsys|``.
    usability : sequence of two floats, optional
        Network probabilities that the stellar and the gas field are usable
        (NaN: not classified); each panel title then gives ``p(usable)`` and
        the verdict.
    threshold : float, optional
        Probability above which a field is usable (default 0.5).

    Returns
    -------
    `~matplotlib.figure.Figure`
        The figure. Its sky panels are labelled ``'stellar'`` and ``'gas'``
        (see `~matplotlib.artist.Artist.get_label`).
    """
    from matplotlib.figure import Figure

    probs = (None, None) if usability is None else tuple(usability)
    if len(probs) != 2:  # checked before a given figure is cleared
        raise ValueError(f"usability must give two probabilities (stellar, gas), not {usability!r}")
    if figure is None:
        figure = Figure(figsize=(10.5, 4.8), layout="constrained")
    else:
        figure.clear()
        if figure.get_layout_engine() is None:
            # colour bars and the outside legend need room made for them
            figure.set_layout_engine("constrained")
    axes_width_pt = figure.get_figwidth() * 72 / 2 * 0.7

    axs = figure.subplots(1, 2)
    for ax, field, fit, label, p in ((axs[0], stellar, stellar_fit, "Stellar", probs[0]),
                                     (axs[1], gas, gas_fit, "Gas", probs[1])):
        mappable = _draw_field(ax, field, fit, label, vlim, axes_width_pt)
        if usability is not None:
            ax.set_title(f"{ax.get_title()}\n{_format_usability(p, threshold)}")
        if mappable is not None:
            figure.colorbar(mappable, ax=ax, label="line-of-sight velocity / (km/s)",
                            shrink=0.9)

    # One legend for both panels, below them, so it never hides the receding arrow.
    # Both panels' entries, each once: an axis without a sense is drawn differently.
    legend = {}
    for ax in axs:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(text, handle)
    handles, labels = list(legend.values()), list(legend)
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=len(handles),
                      fontsize="small", frameon=False)

    if title is None and stellar is not None:
        title = stellar.meta.get("PLATEIFU")
    parts = [str(title)] if title else []
    pa1, err1 = _fit_angles(stellar_fit)
    pa2, err2 = _fit_angles(gas_fit)
    if stellar_fit is not None and gas_fit is not None:
        from .pa import misalignment

        dpa, dpa_err = misalignment(pa1 * u.deg, pa2 * u.deg, err1 * u.deg, err2 * u.deg,
                                    sense_determined=_sense_determined(stellar_fit)
                                    and _sense_determined(gas_fit))
        parts.append(_format_angle("ΔPA", dpa.to_value(u.deg), dpa_err.to_value(u.deg)))
    if parts:
        figure.suptitle("   ".join(parts))
    return figure


def plot_misalignment_histogram(dpa, ax=None, bins=18, **kwargs):
    """Histogram of kinematic misalignments with the class boundaries marked.

    Parameters
    ----------
    dpa : `~astropy.units.Quantity` or array-like
        Misalignments ΔPA in [0, 180] deg (plain numbers are taken as
        degrees). NaN and masked values are left out.
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw on. By default a new figure with one axes is made.
    bins : int or array-like, optional
        Number of bins over [0, 180] deg, or the bin edges in deg. The
        default gives 10° bins.
    **kwargs
        Passed to `~matplotlib.axes.Axes.hist` (e.g. ``color``, ``label``).

    Returns
    -------
    `~matplotlib.axes.Axes`
        The axes drawn on (``ax.figure`` is the figure).

    Raises
    ------
    ValueError
        If a value lies outside [0, 180] deg.

    Notes
    -----
    Dotted lines mark ΔPA = 30° and 150°: galaxies below 30° are aligned,
    those between are misaligned and those at 150° or more are
    counter-rotating.
    """
    values = dpa.to_value(u.deg) if isinstance(dpa, u.Quantity) else dpa
    values = np.ma.masked_invalid(np.ma.asarray(values, dtype=float)).compressed()
    if np.any((values < 0) | (values > 180)):
        raise ValueError("misalignments must lie in [0, 180] deg")
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6, 4), layout="constrained").subplots()

    kwargs.setdefault("histtype", "stepfilled")
    kwargs.setdefault("edgecolor", "k")
    kwargs.setdefault("color", "0.75")
    ax.hist(values, bins=bins, range=(0, 180), **kwargs)

    # Class boundaries, and class names along the top in axes-fraction height.
    names = ("aligned", "misaligned", "counter-\nrotating")
    centres = (_CLASS_EDGES[0] / 2, sum(_CLASS_EDGES) / 2, (_CLASS_EDGES[1] + 180) / 2)
    for edge in _CLASS_EDGES:
        ax.axvline(edge, color="C3", ls=":", lw=1.5, gid=f"class-edge-{edge:g}")
    for name, centre in zip(names, centres, strict=True):
        ax.text(centre, 0.97, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize="small", color="C3")
    ax.set_xlim(0, 180)
    ax.set_xticks(np.arange(0, 181, 30))
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)  # headroom for the class names
    ax.set_xlabel("ΔPA / deg")
    ax.set_ylabel("number of galaxies")
    return ax
