"""Derive the realistic-mix constants of :mod:`kinmisalign.mock` from the
public expert-classification table (Duckworth et al. 2020, MPL-7, v0.1).

Prints the constants as :func:`kinmisalign.mock.derive_survey_mix` recomputes
them (rounded as ``kinmisalign/mock/_survey_mix.py`` writes them;
``tests/test_survey_mix.py`` checks that they agree), then the counts they come
from and others. The table itself is never committed::

    python scripts/derive_mock_mix.py ../shared/data/mpl7-pa-classifications-v0_1-drpall.csv
"""

import sys

import numpy as np
from astropy.table import Table

from kinmisalign.mock import derive_survey_mix

__all__ = ["main"]

BUNDLES = (19, 37, 61, 91, 127)
BA_EDGES = (0.0, 0.3, 0.5, 0.7, 0.85, 1.0)
DPA_EDGES = (0, 10, 20, 30, 60, 90, 120, 150, 170, 180)


def _fractions(values, codes):
    values = np.asarray(values)
    n = len(values)
    return [round(float(np.sum(values == c)) / n, 3) if n else float("nan") for c in codes], n


def main(path):
    t = Table.read(path, format="ascii.csv")
    print("constants of kinmisalign.mock:")
    for name, value in derive_survey_mix(t).items():
        print(f"  {name} = {value}")
    print()
    stel = np.asarray(t["stel_qual"])
    gas = np.asarray(t["halpha_qual"])
    ok = stel <= 2  # two rows hold the invalid value 3
    t, stel, gas = t[ok], stel[ok], gas[ok]
    size = np.asarray(t["ifudesignsize"])
    ba = np.asarray(t["nsa_elpetro_ba"], dtype=float)
    notes = np.asarray(t["halpha_notes"])

    print(f"rows used: {len(t)}")
    frac, n = _fractions(size, BUNDLES)
    print("bundle-size fractions", dict(zip(BUNDLES, frac, strict=True)))

    print("\nquality fractions (0 don't use, 1 messy, 2 clean) per bundle size")
    for b in BUNDLES:
        sel = size == b
        fs, n = _fractions(stel[sel], (0, 1, 2))
        fg, _ = _fractions(gas[sel], (0, 1, 2))
        print(f"  {b:4d}  n={n:5d}  stellar {fs}  gas {fg}")
    fs, _ = _fractions(stel, (0, 1, 2))
    fg, _ = _fractions(gas, (0, 1, 2))
    print(f"   all  stellar {fs}  gas {fg}")

    print("\nquality fractions per axis-ratio bin (b/a)")
    good_ba = np.isfinite(ba) & (ba > 0)
    for lo, hi in zip(BA_EDGES[:-1], BA_EDGES[1:], strict=True):
        sel = good_ba & (ba >= lo) & (ba < hi + (hi == 1.0))
        fs, n = _fractions(stel[sel], (0, 1, 2))
        fg, _ = _fractions(gas[sel], (0, 1, 2))
        print(f"  [{lo:.2f},{hi:.2f})  n={n:5d}  stellar {fs}  gas {fg}")
    hist, _ = np.histogram(ba[good_ba], bins=np.linspace(0, 1, 11))
    print("b/a histogram (10 bins 0..1), fractions:", np.round(hist / hist.sum(), 3).tolist())

    print("\ngas notes among (stellar usable, gas unusable):")
    sel = (stel >= 1) & (gas == 0)
    fn, n = _fractions(notes[sel], (0, 1, 2, 3))
    print(f"  n={n}  none/1 depletion/2 no clear rotation/3 rotation but biased: {fn}")
    print("gas notes among all rows:", _fractions(notes, (0, 1, 2, 3)))
    print("joint (stellar usable, gas usable) fractions:")
    for s in (False, True):
        for g in (False, True):
            f = np.mean(((stel >= 1) == s) & ((gas >= 1) == g))
            print(f"  stellar usable={s!s:5} gas usable={g!s:5}: {f:.3f}")

    print("\nfeatures (0 none, 1 KDC, 2 warp, 3 merger):")
    print("  stellar", _fractions(np.asarray(t["stel_feature"]), (0, 1, 2, 3)))
    print("  gas    ", _fractions(np.asarray(t["halpha_feature"]), (0, 1, 2, 3)))

    dpa = np.asarray(t["pa_offset"], dtype=float)
    both = (stel >= 1) & (gas >= 1) & np.isfinite(dpa) & (np.asarray(t["stellar_pa"]) != 0)
    d = dpa[both]
    print(f"\nDPA among both usable: n={len(d)}, median {np.median(d):.1f}, "
          f">30: {np.mean(d > 30):.3f}, >=150: {np.mean(d >= 150):.3f}")
    hist, _ = np.histogram(d, bins=DPA_EDGES)
    print("  bins", DPA_EDGES, "fractions", np.round(hist / hist.sum(), 4).tolist())
    al = d[d < 30]
    print(f"  aligned (<30): median {np.median(al):.1f}, 68th pct {np.percentile(al, 68):.1f}")
    mis = d >= 30
    print(f"  misaligned fraction by gas quality 1/2: "
          f"{np.mean(mis[gas[both] == 1]):.3f} / {np.mean(mis[gas[both] == 2]):.3f}")


if __name__ == "__main__":
    default = "../shared/data/mpl7-pa-classifications-v0_1-drpall.csv"
    main(sys.argv[1] if len(sys.argv) > 1 else default)
