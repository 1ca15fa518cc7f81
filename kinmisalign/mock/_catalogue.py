"""Mock survey catalogues: many MAPS files of the realistic mix and their truth table."""

from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table

from ._fits import default_daptype, write_maps
from ._instrument import IFU_DESIGNS
from ._survey_mix import random_galaxy
from ._truth import MockGalaxy

__all__ = ["make_mock_catalogue"]


_CATALOGUE_UNITS = {
    "INCLINATION_TRUE": u.deg, "PA_STELLAR_TRUE": u.deg, "PA_GAS_TRUE": u.deg,
    "DPA_TRUE": u.deg, "VSYS_TRUE": u.km / u.s, "VMAX_STELLAR_TRUE": u.km / u.s,
    "VMAX_GAS_TRUE": u.km / u.s, "NOISE_STELLAR": u.km / u.s, "NOISE_GAS": u.km / u.s,
}
_CATALOGUE_DESCRIPTIONS = {
    "PA_STELLAR_TRUE": "True stellar kinematic PA, East of North to the receding side "
                       "(masked when the stars show no disc)",
    "PA_GAS_TRUE": "True gas kinematic PA, East of North to the receding side "
                   "(masked when the gas shows no disc)",
    "DPA_TRUE": "True stellar-gas misalignment in [0, 180] (masked when either PA is undefined)",
    "QUALITY_STELLAR_TRUE": "Expert-like quality of the stellar field: 0 don't use, 1 messy, "
                            "2 clean",
    "QUALITY_GAS_TRUE": "Expert-like quality of the gas field: 0 don't use, 1 messy, 2 clean",
    "USABLE_STELLAR_TRUE": "Expert-like usability of the stellar field (quality >= 1)",
    "USABLE_GAS_TRUE": "Expert-like usability of the gas field (quality >= 1)",
    "KIND_STELLAR": "Kind of stellar field (see kinmisalign.mock.FieldModel)",
    "KIND_GAS": "Kind of gas field (see kinmisalign.mock.FieldModel)",
    "FILENAME": "MAPS file, relative to the catalogue directory",
}


def make_mock_catalogue(directory, n, seed=0, layout="DR17", *, tree=False, binning="HYB10",
                        repeat_fraction=0.03, compresslevel=3, overwrite=False, **kwargs):
    """Write ``n`` mock MAPS files of a realistic mix and return their truth table.

    Parameters
    ----------
    directory : str or path-like
        Where the files go (created if needed).
    n : int
        Number of observations (files).
    seed : int, optional
        Seed of the whole catalogue.
    layout : {'DR17', 'DR15'}, optional
        DAP data model of the files.
    tree : bool, optional
        Write into the survey's ``<DAPTYPE>/<plate>/<ifu>/`` directories.
    binning : {'HYB10', 'VOR10', 'SPX'}, optional
        Binning of the mock DAP run.
    repeat_fraction : float, optional
        Fraction of observations that re-observe an earlier galaxy (same
        MANGAID and truth, new PLATEIFU and noise), as MaNGA repeats do.
    compresslevel : int, optional
        gzip level of the files.
    overwrite : bool, optional
        Replace existing files; without it an existing file is an error.
    **kwargs
        Passed to `random_galaxy` (``usable_stellar``, ``bundle_size``, ...).

    Returns
    -------
    astropy.table.Table
        One row per file: ``PLATEIFU``, ``MANGAID``, ``FILENAME`` and the truth
        columns of `MockGalaxy.truth` (``PA_STELLAR_TRUE``, ``DPA_TRUE``,
        ``USABLE_GAS_TRUE``, ...), with units and descriptions.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seen, galaxies, rows = set(), [], []
    daptype = default_daptype(binning, layout)
    for _ in range(int(n)):
        for _attempt in range(1000):
            if galaxies and rng.random() < repeat_fraction:
                first = galaxies[rng.integers(len(galaxies))]
                ifu = int(rng.choice(IFU_DESIGNS[first.bundle_size]))
                galaxy = replace(first, plateifu=f"{int(rng.integers(7443, 12706))}-{ifu}",
                                 seed=int(rng.integers(2**31 - 1)))
            else:
                galaxy = random_galaxy(rng, binning=binning, **kwargs)
            if galaxy.plateifu not in seen:
                break
        seen.add(galaxy.plateifu)
        galaxies.append(galaxy)
        path = write_maps(galaxy, directory, layout=layout, tree=tree,
                          compresslevel=compresslevel, overwrite=overwrite)
        row = galaxy.truth()
        row["DAPTYPE"] = daptype
        row["FILENAME"] = path.relative_to(directory).as_posix()
        rows.append(row)
    names = list(rows[0]) if rows else list(MockGalaxy().truth()) + ["DAPTYPE", "FILENAME"]
    table = Table(meta={"MOCK": True, "LAYOUT": layout, "SEED": seed, "DAPTYPE": daptype})
    for name in names:
        values = [r[name] for r in rows]
        if name in ("PA_STELLAR_TRUE", "PA_GAS_TRUE", "DPA_TRUE"):
            arr = np.array(values, dtype=float)
            col = MaskedColumn(np.nan_to_num(arr, nan=0.0), mask=~np.isfinite(arr), name=name)
        else:
            col = Column(values, name=name)
        if name in _CATALOGUE_UNITS:
            col.unit = _CATALOGUE_UNITS[name]
        col.description = _CATALOGUE_DESCRIPTIONS.get(name)
        table[name] = col
    return table
