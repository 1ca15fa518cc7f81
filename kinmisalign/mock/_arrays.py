"""Array synthesis: the noisy, binned, masked maps of one mock observation (no I/O)."""

from dataclasses import dataclass, replace

import numpy as np

from .._datamodel import MASK_BITS, SPAXEL_SIZE_ARCSEC
from ._binning import (
    bin_noise_factor,
    spaxel_bins,
    unit_average,
    voronoi_bins,
    voronoi_bins_calibrated,
)
from ._instrument import HEX_FLAT_DIAMETER
from ._kinematics import axis_ratio_from_inclination, disc_velocity, elliptical_radius
from ._truth import MockGalaxy

__all__ = ["MockMaps", "make_maps_arrays"]


def _bits(*names):
    """Integer mask value with the named MANGA_DAPPIXMASK bits set (Python ints)."""
    value = 0
    for name in names:
        value |= 1 << MASK_BITS[name]
    return value


_M_NOCOV = _bits("DONOTUSE", "NOCOV", "LOWCOV")  # 1073741827, as in real files
_M_LOWCOV = _bits("DONOTUSE", "LOWCOV")  # 1073741826
_M_NOVALUE = _bits("DONOTUSE", "NOVALUE")  # 1073741840
_M_BOUND = _bits("DONOTUSE", "NEARBOUND")  # 1073742080
_M_MATH = _bits("DONOTUSE", "MATHERROR")  # 1073741888


@dataclass
class MockMaps:
    """The arrays of one mock MAPS file (no I/O; see `make_maps_arrays`).

    Maps are 2-D ``(ny, nx)`` in the DAP orientation; ``binid`` is
    ``(5, ny, nx)`` with the channels of ``BINID``.

    Attributes
    ----------
    x, y : numpy.ndarray
        Sky offsets (arcsec), ``x`` East, ``y`` North (``SPX_SKYCOO``).
    covered, lowcov : numpy.ndarray of bool
        Spaxels inside the bundle footprint, and its low-coverage rim.
    snr : numpy.ndarray
        Continuum S/N per spaxel (``SPX_SNR``).
    binid : numpy.ndarray of int
        Bin index per spaxel and channel, -1 where nothing was measured.
    stellar_vel, stellar_ivar, stellar_mask : numpy.ndarray
        ``STELLAR_VEL`` and its companions.
    stellar_model : numpy.ndarray
        The noise-free stellar velocity at each spaxel (before binning).
    stellar_sigma : numpy.ndarray
        ``STELLAR_SIGMA``.
    gas_vel, gas_ivar, gas_mask : numpy.ndarray
        The H-alpha channel of ``EMLINE_GVEL`` and its companions.
    gas_model : numpy.ndarray
        The noise-free gas velocity at each spaxel.
    gas_flux, gas_flux_ivar, gas_sigma : numpy.ndarray
        H-alpha ``EMLINE_GFLUX``, its inverse variance, ``EMLINE_GSIGMA``.
    mflux : numpy.ndarray
        Mean continuum flux per spaxel (``SPX_MFLUX``).
    defects : dict
        Boolean maps of where defects were placed, per field (``'stellar_'``
        or ``'gas_'`` prefix): ``_spikes``, ``_patches`` (detached islands)
        and ``_hole`` (the central hole of a depleted field, or the gaps
        between the patches of a patchy one).
    galaxy : MockGalaxy
        The truth these arrays were drawn from.
    seed : int
        The seed used.
    """

    x: np.ndarray
    y: np.ndarray
    covered: np.ndarray
    lowcov: np.ndarray
    snr: np.ndarray
    binid: np.ndarray
    stellar_vel: np.ndarray
    stellar_ivar: np.ndarray
    stellar_mask: np.ndarray
    stellar_model: np.ndarray
    stellar_sigma: np.ndarray
    gas_vel: np.ndarray
    gas_ivar: np.ndarray
    gas_mask: np.ndarray
    gas_model: np.ndarray
    gas_flux: np.ndarray
    gas_flux_ivar: np.ndarray
    gas_sigma: np.ndarray
    mflux: np.ndarray
    defects: dict
    galaxy: MockGalaxy
    seed: int

    def zeroed(self):
        """The same arrays with every masked spaxel's velocity set to 0.

        The DAP keeps the fitted values of flagged spaxels (failed fits, fits
        at a boundary) and stores 0 only where nothing was fitted; many users'
        arrays, and the real stellar maps of the development set, hold 0 at
        every masked spaxel instead. This gives that form: ``stellar_vel``
        and ``gas_vel`` are 0, and ``stellar_ivar`` and ``gas_ivar`` are 0,
        wherever the matching mask is non-zero. Masks, models and every other
        array are unchanged (copies of the changed arrays are made; this
        object is not modified).

        Returns
        -------
        MockMaps
        """
        out = {}
        for name in ("stellar", "gas"):
            masked = getattr(self, f"{name}_mask") != 0
            for kind in ("vel", "ivar"):
                out[f"{name}_{kind}"] = np.where(masked, 0.0, getattr(self, f"{name}_{kind}"))
        return replace(self, **out)


def _grid(shape):
    """Nominal spaxel offsets (arcsec): an exact lattice, East at column 0."""
    ny, nx = shape
    rows, cols = np.mgrid[0:ny, 0:nx]
    x = -(cols - (nx - 1) / 2.0) * SPAXEL_SIZE_ARCSEC
    y = (rows - (ny - 1) / 2.0) * SPAXEL_SIZE_ARCSEC
    return x, y


def _sky_offsets(shape, ra, dec):
    """Spaxel offsets as the DAP writes them in ``SPX_SKYCOO`` (arcsec, float32 values).

    The DAP deprojects the cube's gnomonic (TAN) WCS and takes ``x = (RA - RA0)
    cos(Dec0)``, ``y = Dec - Dec0`` (checked against the real file 7815-3702 to
    5e-7 arcsec), stored as float32. So the real offsets are not an exact lattice:
    the projection distorts the cells by up to ~1e-4 arcsec and float32 rounds
    each offset by ~1e-6 arcsec. That matters to triangulation-based fits: on an
    exact lattice four spaxels are co-circular in every cell and the Delaunay
    diagonals are arbitrary; on DAP offsets they are fixed by the data. The
    tangent point is the galaxy (``CRVAL`` = ``OBJRA``/``OBJDEC``).
    """
    u, v = _grid(shape)
    xi, eta = np.radians(u / 3600.0), np.radians(v / 3600.0)
    dec0 = np.radians(dec)
    # Inverse gnomonic projection about (ra, dec).
    denom = np.cos(dec0) - eta * np.sin(dec0)
    dra = np.arctan2(xi, denom)
    ddec = np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denom)) - dec0
    x = np.degrees(dra) * np.cos(dec0) * 3600.0
    y = np.degrees(ddec) * 3600.0
    return x.astype(np.float32).astype(float), y.astype(np.float32).astype(float)


def _hex_radius(x, y, rotation):
    """Distance-like measure equal to half the flat-to-flat diameter on a hexagon's edge.

    Flat sides face North and South, vertices East and West (as in real cubes).
    """
    t = np.radians(rotation)
    xr = x * np.cos(t) - y * np.sin(t)
    yr = x * np.sin(t) + y * np.cos(t)
    ay = np.abs(yr)
    return np.maximum(ay, 0.5 * ay + 0.5 * np.sqrt(3.0) * np.abs(xr))


def _smooth_noise(rng, shape, scale):
    """A smooth random field of unit standard deviation (correlation ~``scale`` px)."""
    from scipy.ndimage import gaussian_filter

    field_ = gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    return field_ / max(field_.std(), 1e-12)


def _field_model(gal, f, x, y, rng, r_bundle):
    """Noise-free velocity map and relative surface brightness of one field.

    Returns the velocity model, a surface-brightness factor in [0, 1] (zero
    where the field is not detected) and a boolean map of the hole or gaps.
    """
    inc = gal.inclination if f.inclination is None else f.inclination
    vsys = gal.vsys + f.vsys_offset
    twist_scale = max(r_bundle, 1.0)
    disc = disc_velocity(x, y, f.pa, inc, f.vmax, f.r_turn, vsys, f.pa_twist, twist_scale)
    light = np.ones_like(x)
    gaps = np.zeros(x.shape, dtype=bool)
    if f.kind == "noise":
        disc = vsys + 0.5 * f.noise_amplitude * _smooth_noise(
            rng, x.shape, f.noise_scale / SPAXEL_SIZE_ARCSEC)
    elif f.kind == "depleted":
        radius, _ = elliptical_radius(x, y, f.pa, axis_ratio_from_inclination(inc))
        r_hole = f.hole_fraction * r_bundle
        light = 1.0 - np.exp(-((radius / max(r_hole, 1e-3)) ** 4))
        gaps = radius < r_hole
    elif f.kind == "patchy":
        blobs = _smooth_noise(rng, x.shape, 2.5)
        gaps = blobs < np.quantile(blobs, 1.0 - f.patch_fraction)
        light = np.where(gaps, 0.0, 1.0)
    elif f.kind == "two_component":
        pa2 = (f.pa + 180.0) % 360.0 if f.second_pa is None else f.second_pa
        dx, dy = f.second_offset
        second = disc_velocity(x - dx, y - dy, pa2, inc, f.vmax, f.r_turn,
                               vsys + f.second_vsys)
        w1 = np.exp(-np.hypot(x, y) / 3.0)
        w2 = f.second_weight * np.exp(-np.hypot(x - dx, y - dy) / 3.0)
        # Sharpened weights: each nucleus dominates its own side, blended between.
        disc = (w1**2 * disc + w2**2 * second) / (w1**2 + w2**2)
    elif f.kind == "absent":
        light = np.zeros_like(x)
        gaps = np.ones(x.shape, dtype=bool)
    if f.harmonic3 > 0 and f.kind != "absent":
        t = np.radians(f.pa)
        major = x * np.sin(t) + y * np.cos(t)
        minor = (-x * np.cos(t) + y * np.sin(t)) / max(np.cos(np.radians(inc)), 0.05)
        phi = np.arctan2(minor, major)
        rise = (2.0 / np.pi) * np.arctan(np.hypot(major, minor) / f.r_turn)
        disc = disc + f.harmonic3 * rise * np.cos(3.0 * phi)
    if f.irregular > 0 and f.kind != "absent":
        # Large-scale non-circular motions (drawn only when asked for, so that
        # fields without them keep their noise).
        disc = disc + f.irregular * _smooth_noise(rng, x.shape,
                                                  f.irregular_scale / SPAXEL_SIZE_ARCSEC)
    return disc, light, gaps


def _measure(gal, f, x, y, units, snr_field, light, model, gaps, good, rng, r_bundle, name):
    """Binned, noisy velocities with mask and ivar for one field, defects included."""
    from scipy import ndimage

    shape = x.shape
    n_units = int(units.max()) + 1 if (units >= 0).any() else 0
    sel = units >= 0
    # S/N of each unit adds in quadrature over its spaxels.
    snr_unit = np.sqrt(np.bincount(units[sel], weights=(snr_field**2)[sel], minlength=n_units))
    if gal.bin_model == "calibrated":
        snr_unit /= bin_noise_factor(np.bincount(units[sel], minlength=n_units))
    model_unit = unit_average(model, np.maximum(snr_field, 1e-3) ** 2, units, n_units)
    err_unit = np.clip(f.noise * 10.0 / np.maximum(snr_unit, 1e-3), 0.1 * f.noise,
                       f.noise_amplitude)
    if gal.noise_correlation > 0 and n_units:
        # Correlated noise: each unit takes the value of a smooth unit-variance
        # field at its first spaxel, so that neighbouring small bins and
        # spaxels err alike and big bins independently.
        smooth = _smooth_noise(rng, shape, gal.noise_correlation / SPAXEL_SIZE_ARCSEC)
        flat = units.ravel()
        first = np.full(n_units, flat.size)
        np.minimum.at(first, flat[flat >= 0], np.flatnonzero(flat >= 0))
        vel_unit = model_unit + smooth.ravel()[first] * err_unit
    else:
        vel_unit = model_unit + rng.normal(0.0, 1.0, n_units) * err_unit
    # Where the field is not detected the fit returns noise about vsys.
    vsys = gal.vsys + f.vsys_offset
    light_unit = unit_average(light, np.ones(shape), units, n_units)
    dark = light_unit < 0.5
    vel_unit[dark] = vsys + rng.normal(0.0, f.noise_amplitude, int(dark.sum()))
    err_unit[dark] = f.noise_amplitude
    unit_mask = np.zeros(n_units, dtype=np.int64)
    # Half of the undetected fits hit a boundary and are flagged.
    unit_mask[dark & (rng.random(n_units) < 0.5)] = _M_BOUND

    defects = {}
    usable_units = np.flatnonzero(~dark & (unit_mask == 0))
    if f.masked_fraction > 0 and usable_units.size:
        k = int(round(f.masked_fraction * usable_units.size))
        pick = rng.choice(usable_units, size=min(k, usable_units.size), replace=False)
        unit_mask[pick] = np.where(rng.random(pick.size) < 0.5, _M_BOUND, _M_MATH)
        vel_unit[pick] += rng.normal(0.0, f.noise_amplitude, pick.size)
        usable_units = np.setdiff1d(usable_units, pick)
    spikes = np.zeros(shape, dtype=bool)
    if f.n_spikes and usable_units.size:
        pick = rng.choice(usable_units, size=min(f.n_spikes, usable_units.size), replace=False)
        jump = rng.choice([-1.0, 1.0], pick.size) * rng.uniform(150, 450, pick.size)
        vel_unit[pick] = model_unit[pick] + jump
        spikes = np.isin(units, pick)

    vel = np.zeros(shape)
    ivar = np.zeros(shape)
    mask = np.zeros(shape, dtype=np.int64)
    vel[sel] = vel_unit[units[sel]]
    ivar[sel] = 1.0 / err_unit[units[sel]] ** 2
    mask[sel] = unit_mask[units[sel]]
    mask[good & ~sel] = _M_NOVALUE

    patches = np.zeros(shape, dtype=bool)
    if f.n_patches:
        patches, moat = _place_patches(f.n_patches, good & sel & (mask == 0) & ~spikes,
                                       units, rng)
        amp = f.vmax * np.sin(np.radians(gal.inclination if f.inclination is None
                                         else f.inclination))
        # Each island is offset from the disc as a whole (a spurious fit).
        islands, n_islands = ndimage.label(patches)
        for k in range(1, n_islands + 1):
            jump = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2) * max(amp, 80.0)
            vel[islands == k] = model_unit[units[islands == k]] + jump
        mask[moat] = _M_MATH
    if f.kind == "absent":
        vel[sel] = 0.0
        ivar[sel] = 0.0
        mask[sel] = _M_NOVALUE
    defects[f"{name}_spikes"] = spikes
    defects[f"{name}_patches"] = patches
    defects[f"{name}_gaps"] = gaps & good
    return vel, ivar, mask, defects


def _place_patches(n, allowed, units, rng):
    """Islands of a few units near the edge of ``allowed``, cut off by a masked ring."""
    from scipy.ndimage import binary_dilation, binary_erosion

    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    patches = np.zeros(allowed.shape, dtype=bool)
    moat = np.zeros(allowed.shape, dtype=bool)
    # Candidates sit two to three spaxels inside the edge, so that the ring
    # separating them from the main field leaves the field itself intact.
    inner = binary_erosion(allowed, cross, iterations=2)
    edge = inner & ~binary_erosion(allowed, cross, iterations=4)
    for _ in range(n):
        cand = np.flatnonzero(edge & ~binary_dilation(patches | moat, cross, iterations=3))
        if cand.size == 0:
            break
        start = rng.choice(cand)
        blob = np.zeros(allowed.shape, dtype=bool)
        blob.flat[start] = True
        for _step in range(int(rng.integers(1, 6))):
            grow = binary_dilation(blob, cross) & inner & ~blob
            options = np.flatnonzero(grow)
            if options.size == 0:
                break
            blob.flat[rng.choice(options)] = True
        # Whole bins only, so binned values stay one per bin.
        blob = np.isin(units, np.unique(units[blob])) & allowed
        ring = binary_dilation(blob, cross) & ~blob
        patches |= blob
        moat |= ring
    moat &= ~patches
    return patches, moat


def make_maps_arrays(galaxy, seed=None):
    """Draw the arrays of a mock MAPS file (array level, no I/O).

    Parameters
    ----------
    galaxy : MockGalaxy
        The truth.
    seed : int, optional
        Seed of the noise; default ``galaxy.resolved_seed()``. The same
        galaxy and seed always give the same arrays.

    Returns
    -------
    MockMaps
    """
    from scipy import ndimage

    seed = galaxy.resolved_seed() if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    shape = galaxy.shape
    # The fields are drawn on the nominal lattice; the offsets reported are the DAP's
    # (they differ from it by < 1e-3 arcsec, far below the PSF).
    x, y = _grid(shape)
    sky_x, sky_y = _sky_offsets(shape, galaxy.ra, galaxy.dec)
    size = galaxy.bundle_size
    r_bundle = HEX_FLAT_DIAMETER[size] / 2.0

    # Footprint: a hexagon with a ragged low-coverage rim about two spaxels wide.
    h = _hex_radius(x, y, galaxy.hex_rotation) + rng.uniform(-0.3, 0.3, shape)
    covered = h <= r_bundle + 0.25
    # The jitter must not leave stray covered spaxels off the hexagon.
    labels, _ = ndimage.label(covered)
    covered = ndimage.binary_fill_holes(labels == labels[shape[0] // 2, shape[1] // 2])
    lowcov = covered & (h > r_bundle - 0.75)
    if galaxy.trim_vertices:
        # As in real maps: a rim 9 % of the radius wide, and the East and West
        # vertices lost beyond the flat-to-flat radius.
        t = np.radians(galaxy.hex_rotation)
        along = np.abs(x * np.cos(t) - y * np.sin(t))
        lowcov = covered & ((h > 0.91 * r_bundle) | (along > r_bundle - 0.25))
    inside = covered & ~lowcov

    # Continuum: exponential in elliptical radius about the photometric axis.
    pa_phot = galaxy.stellar.pa % 180.0
    r_ell, azimuth = elliptical_radius(x, y, pa_phot, galaxy.axis_ratio)
    sn0 = max(galaxy.sn_center, 1.5)
    h_sn = galaxy.coverage * r_bundle / np.log(sn0)
    r_light = r_ell
    if galaxy.isophote_irregularity > 0:
        # Irregular isophotes: the S/N limit draws a ragged footprint.
        r_light = r_ell * np.maximum(
            1.0 + galaxy.isophote_irregularity * _smooth_noise(rng, shape, 4.0), 0.2)
    snr = sn0 * np.exp(-r_light / h_sn)
    if galaxy.sn_scatter > 0:
        snr = snr * 10.0 ** (galaxy.sn_scatter * _smooth_noise(rng, shape, 0.7))
    good = inside & (snr >= 1.0)
    if galaxy.sn_scatter > 0 or galaxy.isophote_irregularity > 0:
        # Real maps keep the few spaxels below the limit that the footprint
        # encloses (their bins absorb them): the scatter leaves a ragged edge
        # and detached specks, not holes.
        good = inside & ndimage.binary_fill_holes(snr >= 1.0)
    mflux = 0.05 * snr

    if galaxy.binning == "SPX":
        stellar_bins = spaxel_bins(good)
    elif galaxy.bin_model == "calibrated":
        stellar_bins = voronoi_bins_calibrated(snr, good, rng)
    else:
        stellar_bins = voronoi_bins(snr, good, rng)
    spaxel_ids = spaxel_bins(good)
    gas_bins = stellar_bins if galaxy.binning == "VOR10" else spaxel_ids
    binid = np.empty((5,) + shape, dtype=np.int64)
    binid[0] = binid[1] = stellar_bins
    binid[2] = binid[3] = binid[4] = gas_bins if galaxy.binning != "HYB10" else spaxel_ids

    defects = {}
    smodel, slight, sgaps = _field_model(galaxy, galaxy.stellar, x, y, rng, r_bundle)
    svel, sivar, smask, d = _measure(galaxy, galaxy.stellar, x, y, stellar_bins, snr * slight,
                                     slight, smodel, sgaps, good, rng, r_bundle, "stellar")
    defects.update(d)

    gmodel, glight, ggaps = _field_model(galaxy, galaxy.gas, x, y, rng, r_bundle)
    h_gas = max(galaxy.coverage, 0.8) * r_bundle / np.log(max(galaxy.sn_gas, 1.5) / 3.0 + 1.0)
    gprofile = np.exp(-r_ell / max(h_gas, 0.5))
    gsnr = galaxy.sn_gas * gprofile * glight
    gvel, givar, gmask, d = _measure(galaxy, galaxy.gas, x, y, gas_bins, gsnr, glight, gmodel,
                                     ggaps, good, rng, r_bundle, "gas")
    defects.update(d)
    defects["gas_hole"] = defects.pop("gas_gaps")
    defects["stellar_hole"] = defects.pop("stellar_gaps")

    # H-alpha flux (1e-17 erg/s/cm2/spaxel) with S/N gsnr; sigma maps.
    gflux = 5.0 * gprofile * glight
    flux_err = np.maximum(5.0 * gprofile / max(galaxy.sn_gas, 1.0), 1e-3)
    gflux = gflux + rng.normal(0.0, 1.0, shape) * flux_err
    gflux_ivar = 1.0 / flux_err**2
    ssig = 60.0 + 90.0 * np.exp(-r_ell / 3.0)
    ssig = ssig + rng.normal(0.0, 5.0, shape)
    gsig = 30.0 + 20.0 * np.exp(-r_ell / 3.0) + rng.normal(0.0, 3.0, shape)

    # The DAP writes zeros (and ivar 0) outside the footprint and where nothing was fitted.
    outside_mask = np.where(~covered, _M_NOCOV, np.where(lowcov, _M_LOWCOV, _M_NOVALUE))
    for vel, ivar, mask in ((svel, sivar, smask), (gvel, givar, gmask)):
        off = ~good
        vel[off] = 0.0
        ivar[off] = 0.0
        mask[off] = outside_mask[off]
        nov = (mask & (1 << MASK_BITS["NOVALUE"])) != 0
        vel[nov] = 0.0
        ivar[nov] = 0.0
    for arr in (gflux, gflux_ivar, gsig, ssig, mflux):
        arr[~good] = 0.0
    gflux_ivar[(gmask & (1 << MASK_BITS["NOVALUE"])) != 0] = 0.0
    binid[:, ~good] = -1

    return MockMaps(
        x=sky_x, y=sky_y, covered=covered, lowcov=lowcov, snr=np.where(covered, snr, 0.0),
        binid=binid, stellar_vel=svel, stellar_ivar=sivar, stellar_mask=smask,
        stellar_model=smodel, stellar_sigma=ssig, gas_vel=gvel, gas_ivar=givar,
        gas_mask=gmask, gas_model=gmodel, gas_flux=gflux, gas_flux_ivar=gflux_ivar,
        gas_sigma=gsig, mflux=mflux, defects=defects, galaxy=galaxy, seed=seed,
    )
