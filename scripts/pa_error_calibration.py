"""How well the 1-sigma errors of kinematic position angles describe the real errors.

For clean mock fields (`kinmisalign.mock`, quality 2: regular discs with
known PA) across velocity noise, bundle size and inclination, and for the
real stellar maps of the development set against their published PAs, this
fits every field with `kinmisalign.fit_pa` (fast engine, default settings,
after `kinmisalign.clean_velocity_field`) and prints the fraction of fields
whose PA lies within 1, 2 and 3 sigma, with two errors:

- ``face value``: pafit's rule on the chi-square as it comes with the
  conventional 10 km/s velocity uncertainty (the error of kinmisalign 0.1);
- ``noise-scaled``: the error `fit_pa` reports, with the chi-square scaled to
  the noise of the field (`kinmisalign._core.symmetry.noise_scaled_error`).

Angles are compared as directions (modulo 360 degrees), so a wrong sense of
rotation counts as a miss. Mock fields are HYB10 stellar fields of
`kinmisalign.mock.MockGalaxy` with no warp, spike or masked bin, so that the
truth is the PA of the field; the realistic mix of
`kinmisalign.mock.random_galaxy` (clean fields there still carry warps of up
to 5 degrees and non-circular motions, which no noise-based error covers) is
reported against the truth and against the PA fitted to the same field
without noise. Seeded and deterministic::

    python scripts/pa_error_calibration.py [--dev ../shared/data/real-stellar-maps-dev.fits.gz]
        [--repeats 6] [--seed 2026]
"""

import argparse
import itertools

import numpy as np
from astropy import units as u

from kinmisalign import VelocityField, clean_velocity_field, fit_pa, mock
from kinmisalign.exceptions import KinmisalignError
from kinmisalign.pa import ENGINES

__all__ = ["NOISES", "BUNDLES", "INCLINATIONS", "angle_difference", "clean_mock_fields",
           "measure", "coverage", "main"]

KMS = u.km / u.s
NOISES = (4.0, 8.0, 16.0, 24.0)
BUNDLES = (19, 37, 61, 91, 127)
INCLINATIONS = (30.0, 50.0, 70.0, 80.0)


def angle_difference(a, b, period=360.0):
    """Absolute difference of angles modulo ``period``, in [0, period / 2]."""
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) % period
    return np.minimum(d, period - d)


def clean_mock_fields(rng, noises=NOISES, bundles=BUNDLES, inclinations=INCLINATIONS,
                      repeats=6):
    """Clean mock stellar fields with their truth, over a grid of noise, bundle and inclination.

    Yields
    ------
    (noise, bundle, inclination), field, true_pa
    """
    for noise, bundle, inc, _ in itertools.product(noises, bundles, inclinations,
                                                   range(repeats)):
        pa = float(rng.uniform(0.0, 360.0))
        galaxy = mock.MockGalaxy(
            plateifu=f"8000-{mock.IFU_DESIGNS[bundle][0]}", inclination=inc,
            seed=int(rng.integers(2**31 - 1)), sn_center=float(rng.uniform(20.0, 60.0)),
            hex_rotation=float(rng.uniform(-4.0, 4.0)),
            stellar=mock.FieldModel(pa=pa, vmax=float(rng.uniform(100.0, 250.0)), noise=noise,
                                    r_turn=float(rng.uniform(1.0, 4.0))))
        if galaxy.quality("stellar") != 2:
            continue  # too weak a rotation for this noise: not a clean field
        arrays = mock.make_maps_arrays(galaxy)
        field = VelocityField.from_array(arrays.stellar_vel * KMS, mask=arrays.stellar_mask)
        yield (noise, bundle, inc), clean_velocity_field(field), pa


def measure(field):
    """PA, noise-scaled 1-sigma error and face-value 1-sigma error of one field (degrees)."""
    fit = fit_pa(field)
    x, y, v, _ = field.points()
    v = v.to_value(KMS)
    # The engine alone: pafit's rule on the chi-square at face value (dvel = 10 km/s).
    _, face, _ = ENGINES["fast"](x.to_value(u.arcsec), y.to_value(u.arcsec), v - np.median(v),
                                 10.0, 361)
    return fit.pa.to_value(u.deg), fit.pa_err.to_value(u.deg), face


def coverage(diff, err):
    """Fractions of ``diff / err`` within 1, 2 and 3."""
    z = np.asarray(diff) / np.asarray(err)
    return tuple(float(np.mean(z <= k)) for k in (1, 2, 3))


def _line(label, diff, face, scaled):
    f1, f2, f3 = coverage(diff, face)
    s1, s2, s3 = coverage(diff, scaled)
    return (f"{label:24s} {len(diff):5d}   {f1:6.1%} {f2:6.1%} {f3:6.1%}   "
            f"{s1:6.1%} {s2:6.1%} {s3:6.1%}")


def _header(title):
    return (f"\n{title}\n{'':24s} {'n':>5s}   {'face value (old)':^20s}   "
            f"{'noise-scaled (new)':^20s}\n{'':24s} {'':5s}   {'1s':>6s} {'2s':>6s} {'3s':>6s}   "
            f"{'1s':>6s} {'2s':>6s} {'3s':>6s}")


def _grid_report(rows):
    keys, diff, face, scaled = (np.array(c) for c in zip(*rows, strict=True))
    lines = [_header("Clean mock fields against the truth (MockGalaxy grid)"),
             _line("all", diff, face, scaled)]
    for index, name in enumerate(("noise (km/s)", "bundle", "inclination (deg)")):
        for value in np.unique(keys[:, index]):
            sel = keys[:, index] == value
            lines.append(_line(f"{name} {value:g}", diff[sel], face[sel], scaled[sel]))
    return lines


def _realistic_report(rng, n):
    """Clean fields of the realistic mix, against the truth and the noise-free PA."""
    out = {}
    for k in range(n):
        style = mock.STYLES[k % 2]
        galaxy = mock.random_galaxy(rng, style=style, usable_stellar=True, usable_gas=True,
                                    messy=False)
        arrays = mock.make_maps_arrays(galaxy)
        for which in ("stellar", "gas"):
            if galaxy.quality(which) != 2:
                continue
            field = clean_velocity_field(VelocityField.from_array(
                getattr(arrays, f"{which}_vel") * KMS, mask=getattr(arrays, f"{which}_mask")))
            try:
                pa, scaled, face = measure(field)
                noise_free = fit_pa(field.replace(
                    velocity=getattr(arrays, f"{which}_model") * KMS)).pa.to_value(u.deg)
            except KinmisalignError:
                continue
            truth = getattr(galaxy, which).pa
            out.setdefault(f"{style} {which}", []).append(
                (angle_difference(pa, truth), angle_difference(pa, noise_free), face, scaled))
    lines = [_header("Clean fields of the realistic mix (random_galaxy): against the truth")]
    for label, rows in sorted(out.items()):
        d_truth, _, face, scaled = np.array(rows).T
        lines.append(_line(label, d_truth, face, scaled))
    lines.append(_header("... and against the PA of the same field without noise"))
    for label, rows in sorted(out.items()):
        _, d_model, face, scaled = np.array(rows).T
        lines.append(_line(label, d_model, face, scaled))
    return lines


def _dev_report(path):
    from astropy.io import fits

    with fits.open(path) as hdul:
        vel = np.asarray(hdul["VEL"].data, dtype=float)
        labels = hdul["LABELS"].data
        quality = np.asarray(labels["STEL_QUAL"])
        published = np.asarray(labels["STELLAR_PA"], dtype=float)
    lines = [_header("Real dev maps against the published PAs (Duckworth et al. 2020)")]
    for qual, name in ((2, "clean (STEL_QUAL 2)"), (1, "messy (STEL_QUAL 1)")):
        rows = []
        for i in np.flatnonzero((quality == qual) & np.isfinite(published)):
            field = VelocityField.from_array(vel[i] * KMS, mask=(vel[i] == 0),
                                             pixscale=0.5 * u.arcsec)
            pa, scaled, face = measure(clean_velocity_field(field))
            rows.append((angle_difference(pa, published[i]), face, scaled))
        diff, face, scaled = np.array(rows).T
        lines.append(_line(name, diff, face, scaled))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", help="the real dev maps (real-stellar-maps-dev.fits.gz)")
    parser.add_argument("--repeats", type=int, default=6,
                        help="mock fields per (noise, bundle, inclination) (default 6)")
    parser.add_argument("--realistic", type=int, default=300,
                        help="galaxies of the realistic mix (default 300)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    rows = []
    for key, field, truth in clean_mock_fields(rng, repeats=args.repeats):
        pa, scaled, face = measure(field)
        rows.append((key, angle_difference(pa, truth), face, scaled))
    lines = ["Fraction of fields with |PA - reference| within 1, 2, 3 sigma"]
    lines += _grid_report(rows)
    lines += _realistic_report(np.random.default_rng(args.seed + 1), args.realistic)
    if args.dev:
        lines += _dev_report(args.dev)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
