"""Synthetic MaNGA DAP MAPS files with known truth.

The generator draws a galaxy observed with a hexagonal MaNGA fibre bundle
(19 to 127 fibres), gives its stars and its ionised gas each a velocity field
(a thin rotating disc, or one of several unusable kinds: noise only, a
central gas hole, patchy gas, a merger-like two-component field, no gas at
all), adds the defects real fields carry (per-bin noise, masked spaxels,
spurious spikes, detached patches, warps) and writes a gzipped MAPS file in
the DAP data model of DR17 (DAP 3.1) or of DR15 (DAP 2.2): every extension,
with ``QUALDATA``/``ERRDATA`` companions, channel names, masks, inverse
variances, ``BINID`` and ``SPX_SKYCOO``, so that `kinmisalign.maps.read_maps`
and Marvin's local-file mode open it like a survey file.

Geometry and conventions (as in `kinmisalign.fields.VelocityField.from_array`):
``x`` grows toward East (+RA) and ``y`` toward North (+Dec), in arcsec from the
galaxy centre, which is the array centre; the row index grows toward North,
the column index toward West; spaxels are 0.5 arcsec. A position angle is
measured East of North to the receding (redshifted) side, in [0, 360).

This module never imports the MAPS reader, so tests of the reader that use
mock files check it against an independent writer.

The realistic mix drawn by `random_galaxy` comes from the public expert
classifications of Duckworth et al. (2020, MNRAS 492, 1869; 4,587 MPL-7
observations with valid labels); `derive_survey_mix` recomputes the numbers
from that table. ``random_galaxy(style='real')`` draws the
same mix with stellar fields, Voronoi bins and footprints made to look like
real expert-labelled VOR10 stellar maps (slow and weak rotators near the
noise, faint galaxies with big bins, footprints that end at the S/N limit
inside the hexagon); `MockMaps.zeroed` gives the arrays in the form with 0 at
every masked spaxel.
"""

# The package, in import order (each module imports only the public names of those above it):
#   _instrument   fibre bundles, IFU designs, footprints, map sizes, plate-IFU names
#   _kinematics   rotation curves, disc velocities, axis ratio <-> inclination
#   _truth        FieldModel and MockGalaxy, the truth of one observation
#   _binning      Voronoi-like bins and averages over bins
#   _arrays       make_maps_arrays: the noisy, binned, masked maps (no I/O)
#   _fits         the MAPS file writer (DR17 and DR15 data models)
#   _survey_mix   the realistic mix of the expert labels, random_galaxy
#   _catalogue    make_mock_catalogue: many files and their truth table

from ._arrays import MockMaps, make_maps_arrays
from ._catalogue import make_mock_catalogue
from ._fits import default_daptype, maps_filename, maps_hdulist, write_maps
from ._instrument import BINNINGS, BUNDLE_SIZES, HEX_FLAT_DIAMETER, IFU_DESIGNS, MAP_SIZES
from ._kinematics import (
    axis_ratio_from_inclination,
    disc_velocity,
    inclination_from_axis_ratio,
    rotation_curve,
)
from ._survey_mix import (
    AXIS_RATIO_HISTOGRAM,
    BUNDLE_FRACTIONS,
    DPA_HISTOGRAM,
    GAS_UNUSABLE_BY_AXIS_RATIO,
    GAS_UNUSABLE_BY_BUNDLE,
    GAS_UNUSABLE_REASONS,
    MESSY_FRACTION,
    STELLAR_UNUSABLE_BY_AXIS_RATIO,
    STELLAR_UNUSABLE_BY_BUNDLE,
    STYLES,
    derive_survey_mix,
    random_galaxy,
)
from ._truth import BIN_MODELS, FIELD_KINDS, FieldModel, MockGalaxy

__all__ = [
    "BUNDLE_SIZES",
    "IFU_DESIGNS",
    "HEX_FLAT_DIAMETER",
    "MAP_SIZES",
    "FIELD_KINDS",
    "BINNINGS",
    "BIN_MODELS",
    "STYLES",
    "BUNDLE_FRACTIONS",
    "AXIS_RATIO_HISTOGRAM",
    "STELLAR_UNUSABLE_BY_AXIS_RATIO",
    "STELLAR_UNUSABLE_BY_BUNDLE",
    "GAS_UNUSABLE_BY_AXIS_RATIO",
    "GAS_UNUSABLE_BY_BUNDLE",
    "GAS_UNUSABLE_REASONS",
    "MESSY_FRACTION",
    "DPA_HISTOGRAM",
    "FieldModel",
    "MockGalaxy",
    "MockMaps",
    "rotation_curve",
    "disc_velocity",
    "inclination_from_axis_ratio",
    "axis_ratio_from_inclination",
    "make_maps_arrays",
    "maps_hdulist",
    "maps_filename",
    "default_daptype",
    "write_maps",
    "random_galaxy",
    "derive_survey_mix",
    "make_mock_catalogue",
]
