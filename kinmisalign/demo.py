"""The offline demonstration: mock galaxies in, measured catalogue and figures out."""

import time
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Table

__all__ = ["DEMO_MIX", "make_demo_galaxies", "run_demo"]

# The demo's designed mix (cycled): every kind of galaxy the pipeline must handle.
# (label, options of `kinmisalign.mock.random_galaxy`)
DEMO_MIX = (
    ("aligned", {"usable_stellar": True, "usable_gas": True, "dpa": 5.0, "messy": False}),
    ("misaligned 45 deg", {"usable_stellar": True, "usable_gas": True, "dpa": 45.0}),
    ("messy, aligned", {"usable_stellar": True, "usable_gas": True, "dpa": 12.0,
                        "messy": True}),
    ("misaligned 90 deg", {"usable_stellar": True, "usable_gas": True, "dpa": 90.0}),
    ("counter-rotating", {"usable_stellar": True, "usable_gas": True, "dpa": 178.0}),
    ("gas-poor", {"usable_stellar": True, "usable_gas": False, "gas_reason": "depletion"}),
    ("non-rotating gas", {"usable_stellar": True, "usable_gas": False,
                          "gas_reason": "no_rotation"}),
    ("unusable stars", {"usable_stellar": False, "usable_gas": True}),
    ("realistic mix", {}),
)


def make_demo_galaxies(n, seed=2020):
    """Draw the demo's mock galaxies.

    Parameters
    ----------
    n : int
        Number of galaxies.
    seed : int, optional
        Random seed.

    Returns
    -------
    list of (str, `~kinmisalign.mock.MockGalaxy`)
        Each galaxy with the label of its kind.
    """
    from .mock import random_galaxy

    rng = np.random.default_rng(seed)
    galaxies, seen = [], set()
    for i in range(int(n)):
        label, options = DEMO_MIX[i % len(DEMO_MIX)]
        galaxy = random_galaxy(rng, **options)
        while galaxy.plateifu in seen:  # plateifus are drawn: keep them unique
            galaxy = random_galaxy(rng, **options)
        seen.add(galaxy.plateifu)
        galaxies.append((label, galaxy))
    return galaxies


def _angle_diff(a, b, period):
    d = np.abs(np.asarray(a, float) - np.asarray(b, float)) % period
    return np.minimum(d, period - d)


def _report(out, elapsed):
    lines = [f"Measured {len(out)} mock galaxies in {elapsed:.1f} s."]
    for which in ("STELLAR", "GAS"):
        usable = np.asarray(out[f"USABLE_{which}_TRUE"], bool)
        fitted = ~np.ma.getmaskarray(out[f"PA_{which}"])
        sel = usable & fitted
        diff = _angle_diff(out[f"PA_{which}"].filled(np.nan)[sel], out[f"PA_{which}_TRUE"][sel],
                           360.0)
        err = out[f"PA_{which}_ERR"].filled(np.nan)[sel]
        if sel.any():
            lines.append(
                f"  {which.lower():7s}: {sel.sum()}/{usable.sum()} usable fields fitted; "
                f"median |PA - truth| = {np.median(diff):.1f} deg, "
                f"{np.mean(diff <= np.maximum(3 * err, 3.0)):.0%} within max(3 sigma, 3 deg), "
                f"sense of rotation right in {np.mean(diff < 90):.0%}"
            )
        n_bad = (~usable).sum()
        lines.append(f"           {(~usable & fitted).sum()}/{n_bad} fields that experts would "
                     "call unusable were still fitted (the usability network will flag them)")
    both = np.asarray(out["USABLE_STELLAR_TRUE"], bool) & np.asarray(out["USABLE_GAS_TRUE"], bool)
    sel = both & ~np.ma.getmaskarray(out["DPA"])
    if sel.any():
        truth_dpa = np.asarray(out["DPA_TRUE"][sel], float)
        dpa = out["DPA"].filled(np.nan)[sel]
        classes = np.digitize([truth_dpa, dpa], [30.0, 150.0])
        lines.append(f"  DPA    : {sel.sum()} galaxies with both fields usable; median "
                     f"|DPA - truth| = {np.median(np.abs(dpa - truth_dpa)):.1f} deg; class "
                     f"(aligned / misaligned / counter-rotating) right for "
                     f"{np.mean(classes[0] == classes[1]):.0%}")
    if "USABLE_STELLAR" in out.colnames:
        for which in ("STELLAR", "GAS"):
            judged = ~np.ma.getmaskarray(out[f"USABLE_PROB_{which}"])  # what the network judged
            truth = np.asarray(out[f"USABLE_{which}_TRUE"], bool)[judged]
            said = np.asarray(out[f"USABLE_{which}"].filled(False), bool)[judged]
            lines.append(f"  usability ({which.lower()}): the network agrees with the truth for "
                         f"{np.mean(said == truth):.0%} of {judged.sum()} fields "
                         f"({np.sum(said & ~truth)} unusable called usable, "
                         f"{np.sum(~said & truth)} usable called unusable)")
    return "\n".join(lines)


def run_demo(output="kinmisalign-demo", n=36, seed=2020, overwrite=False, n_figures=4,
             parallel=False, model=None, verbose=True):
    """Run the pipeline offline on mock galaxies and compare with the truth.

    Writes ``<output>/maps/`` (mock MAPS files), ``<output>/kinematics.ecsv``
    (the measured catalogue beside the truth), ``<output>/qa-<plateifu>.png``
    for the first few galaxies and ``<output>/dpa-histogram.png``.

    Parameters
    ----------
    output : str or path-like, optional
        Output directory.
    n : int, optional
        Number of mock galaxies.
    seed : int, optional
        Random seed.
    overwrite : bool, optional
        Replace existing output files; without it, when any file the demo
        would write exists, nothing is written and FileExistsError is raised.
    n_figures : int, optional
        Number of QA figures to write.
    parallel : bool, int, 'dask' or `dask.distributed.Client`, optional
        How to run the measurements (see `~kinmisalign.batch.measure_files`).
    model : str, path-like or `~kinmisalign.classifier.UsabilityModel`, optional
        Usability network; default ``conf.usability_model`` (the embedded one).
    verbose : bool, optional
        Print progress and the comparison with the truth.

    Returns
    -------
    `~astropy.table.Table`
        The measured catalogue with the truth columns.
    """
    from ._filenames import maps_filename
    from ._files import refuse_existing
    from .batch import measure_files
    from .maps import read_maps
    from .measure import measure_maps
    from .mock import default_daptype, write_maps
    from .plotting import plot_misalignment_histogram, plot_velocity_fields

    output = Path(output)
    table_path = output / "kinematics.ecsv"
    maps_dir = output / "maps"
    galaxies = make_demo_galaxies(n, seed)
    figures = [output / f"qa-{galaxy.plateifu}.png" for _, galaxy in galaxies[:n_figures]]
    histogram = output / "dpa-histogram.png"
    if not overwrite:
        # Every file checked before any is written: no half-replaced demo directory.
        planned = [maps_dir / maps_filename(g.plateifu, default_daptype(g.binning, "DR17"))
                   for _, g in galaxies]
        refuse_existing([table_path, histogram, *figures, *planned],
                        hint="pass overwrite=True (--overwrite) to replace")
    maps_dir.mkdir(parents=True, exist_ok=True)

    paths, rows = [], []
    for label, galaxy in galaxies:
        paths.append(write_maps(galaxy, maps_dir, layout="DR17", overwrite=overwrite))
        rows.append({"KIND": label, **galaxy.truth()})
    if verbose:
        print(f"Wrote {len(paths)} mock MAPS files to {maps_dir}/")

    start = time.perf_counter()
    from .config import conf

    measured = measure_files(paths, model=conf.usability_model if model is None else model,
                             parallel=parallel, progress_bar="auto" if verbose else False)
    elapsed = time.perf_counter() - start

    out = Table(rows=rows, names=list(rows[0]))
    for name in measured.colnames:
        if name not in ("PLATEIFU",):
            out[name] = measured[name]
    out["FILENAME"] = [Path(p).relative_to(output).as_posix() for p in paths]
    out.meta.update({"MOCK_SEED": seed, "NGALAXIES": n})
    out.write(table_path, overwrite=overwrite)

    for (label, galaxy), path, figure in zip(galaxies, paths, figures, strict=False):
        result = measure_maps(read_maps(path))
        fig = plot_velocity_fields(result.stellar, result.gas, result.stellar_fit,
                                   result.gas_fit, title=f"{galaxy.plateifu} ({label})")
        fig.savefig(figure)
    ax = plot_misalignment_histogram(u.Quantity(out["DPA"].filled(np.nan), u.deg))
    ax.figure.savefig(histogram)
    if verbose:
        print(_report(out, elapsed))
        print(f"Wrote {table_path}, {min(n_figures, n)} QA figures and the DPA histogram "
              f"to {output}/")
    return out
