"""The constants of the realistic mix against the expert classifications they come from."""

import numpy as np
import pytest
from astropy.table import Table

from kinmisalign import mock
from kinmisalign.mock import _survey_mix

# The overall fractions random_galaxy combines the per-bin ones with (module-private).
OVERALL = ("STELLAR_UNUSABLE_ALL", "GAS_UNUSABLE_ALL", "GAS_UNUSABLE_GIVEN_STELLAR_USABLE",
           "GAS_USABLE_GIVEN_STELLAR_UNUSABLE")


def test_constants_equal_the_expert_table(classifications_path):
    derived = mock.derive_survey_mix(classifications_path)
    module = {name: getattr(mock, name) for name in derived if name not in OVERALL}
    module.update({name: getattr(_survey_mix, f"_{name}") for name in OVERALL})
    assert derived.keys() == module.keys()
    # Exact equality: derive_survey_mix rounds as the constants are written.
    differ = {name: (derived[name], module[name]) for name in derived
              if derived[name] != module[name]}
    assert differ == {}


def test_distributions_sum_to_one():
    for fractions in (list(mock.BUNDLE_FRACTIONS.values()), mock.AXIS_RATIO_HISTOGRAM[1],
                      list(mock.GAS_UNUSABLE_REASONS.values()), mock.DPA_HISTOGRAM[1]):
        assert sum(fractions) == pytest.approx(1.0, abs=1e-9)


def _table(rows):
    names = ("stel_qual", "halpha_qual", "halpha_notes", "ifudesignsize", "nsa_elpetro_ba",
             "pa_offset", "stellar_pa")
    return Table(rows=rows, names=names)


def test_derive_counts_a_small_table():
    rows = [
        # stel, gas, notes, bundle, b/a, dpa, stellar_pa
        (2, 2, 0, 19, 0.25, 5.0, 10.0),
        (1, 2, 0, 19, 0.45, 15.0, 20.0),
        (2, 0, 1, 37, 0.65, 0.0, 30.0),
        (2, 0, 2, 37, 0.75, 0.0, 40.0),
        (0, 0, 0, 127, 0.95, 0.0, 0.0),
        (0, 1, 0, 127, 0.95, 175.0, 50.0),
        (1, 1, 0, 61, 0.35, 100.0, 60.0),
        (3, 2, 0, 91, 0.5, 0.0, 70.0),  # invalid quality: left out
    ]
    d = mock.derive_survey_mix(_table(rows))
    assert d["BUNDLE_FRACTIONS"] == {19: 0.286, 37: 0.286, 61: 0.143, 91: 0.0, 127: 0.285}
    assert d["STELLAR_UNUSABLE_ALL"] == 0.286 and d["GAS_UNUSABLE_ALL"] == 0.429
    assert d["GAS_UNUSABLE_GIVEN_STELLAR_USABLE"] == 0.4  # 2 of 5
    assert d["GAS_USABLE_GIVEN_STELLAR_UNUSABLE"] == 0.5  # 1 of 2
    assert d["MESSY_FRACTION"] == {"stellar": 0.4, "gas": 0.5}
    assert d["GAS_UNUSABLE_REASONS"] == {"depletion": 0.5, "no_rotation": 0.5, "biased": 0.0,
                                         "other": 0.0}
    assert d["STELLAR_UNUSABLE_BY_BUNDLE"][127] == 1.0
    assert d["STELLAR_UNUSABLE_BY_BUNDLE"][19] == 0.0
    assert np.isnan(d["STELLAR_UNUSABLE_BY_BUNDLE"][91])  # no valid row
    # b/a bins 0-0.3-0.5-0.7-0.85-1: the two b/a = 0.95 rows are stellar-unusable.
    assert d["STELLAR_UNUSABLE_BY_AXIS_RATIO"] == (0.0, 0.0, 0.0, 0.0, 1.0)
    assert d["GAS_UNUSABLE_BY_AXIS_RATIO"] == (0.0, 0.0, 1.0, 1.0, 0.5)
    # Both usable: dpa 5, 15, 100 (the 175 row's stars are unusable); the last bin takes
    # up the rounding.
    assert d["DPA_HISTOGRAM"][1] == (0.3333, 0.3333, 0.0, 0.0, 0.0, 0.3333, 0.0, 0.0, 0.0001)
    assert d["AXIS_RATIO_HISTOGRAM"][1] == (0.0, 0.0, 0.143, 0.143, 0.143, 0.0, 0.143, 0.143,
                                            0.0, 0.285)


def test_derive_names_missing_columns():
    table = _table([(2, 2, 0, 19, 0.5, 5.0, 10.0)])
    table.remove_columns(["halpha_notes", "pa_offset"])
    with pytest.raises(ValueError, match="halpha_notes, pa_offset"):
        mock.derive_survey_mix(table)


def test_derive_refuses_a_table_without_valid_rows():
    with pytest.raises(ValueError, match="qualities 0, 1 or 2"):
        mock.derive_survey_mix(_table([(3, 2, 0, 19, 0.5, 5.0, 10.0)]))
