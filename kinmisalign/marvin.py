"""MAPS data through Marvin (``sdss-marvin``): local files, or the Marvin API.

`MarvinSource` asks Marvin for an observation's maps, with Marvin's own data
release and access mode (``marvin.config.release`` and ``marvin.config.mode``,
or the ``release=`` and ``mode=`` given to it), and turns them into the same
`~kinmisalign.MapsData` that `~kinmisalign.read_maps` gives for the file::

    source = MarvinSource()                    # Marvin's release and mode
    maps = source.maps_for("7815-3702", "HYB10-GAU-MILESHC")
    table = add_kinematic_columns(catalogue, source="marvin")

Marvin pins ``numpy<2`` and needs ``marshmallow<4``: install it in an
environment of its own (``pip install "kinmisalign[marvin]"``, see the
installation page). ``marvin`` is imported only when a `MarvinSource` is made
or used.
"""

import os

import numpy as np

from ._datamodel import GAS_VEL_EXT, HALPHA_CHANNEL, STELLAR_VEL_EXT, primary_meta
from ._optional import install_command, require
from .exceptions import MapsFormatError, SourceError
from .fields import MapsData, VelocityField
from .sources import MapsSource, validate_daptype, validate_plateifu

__all__ = ["MarvinSource"]

_WHERE = "in an environment of its own (Marvin pins numpy<2; see the installation page)"
_MODES = ("auto", "local", "remote")
# Marvin's message when its local mode finds neither a file nor a database row.
_NOT_FOUND = "failed to retrieve data"
# BINID channels of each field: the ones read_maps uses (Marvin's names).
_BINID = {"stellar": "binid_stellar_continua", "gas": "binid_em_line_models"}


def _import_marvin():
    """``marvin``, or an ImportError naming the extra (and refusing numpy 2)."""
    major = int(np.__version__.split(".")[0])
    if major >= 2:
        # Marvin's mask handling is not numpy-2 safe (the DONOTUSE bit gets lost).
        raise ImportError(f"Marvin cannot be used with numpy {np.__version__}: it needs numpy<2 "
                          f"and loses the DONOTUSE mask bit under numpy 2; "
                          f"{install_command('marvin')}, {_WHERE}")
    return require("marvin", extra="marvin", feature="the Marvin source", package="sdss-marvin",
                   note=_WHERE)


def _line_channel(line):
    """Marvin's channel name of a DAP emission-line channel: 'Ha-6564' -> 'ha_6564'."""
    return str(line).strip().lower().replace("-", "_")


class MarvinSource(MapsSource):
    """MAPS data of observations through Marvin.

    Marvin finds the maps of a plate-IFU in a local copy of the survey below
    ``$SAS_BASE_DIR`` (mode ``'local'``), through its web API (``'remote'``),
    or locally when it can and remotely otherwise (``'auto'``). The release
    and mode are read from ``marvin.config`` when the source is made, so
    worker processes use the same ones; Marvin's configuration is never
    changed.

    Parameters
    ----------
    release : str, optional
        Marvin data release (``'DR17'``, ``'DR15'``, ``'MPL-11'``, ...);
        default ``marvin.config.release``.
    mode : {'auto', 'local', 'remote'}, optional
        Marvin's data-access mode; default ``marvin.config.mode``.

    Raises
    ------
    ImportError
        When Marvin is not installed or cannot be imported (the message names
        the ``marvin`` extra), or numpy is version 2 or later.
    ValueError
        When the release is unknown to Marvin (with its access rights) or the
        mode is not one of Marvin's.
    """

    def __init__(self, release=None, mode=None):
        marvin = _import_marvin()
        config = marvin.config
        release = config.release if release is None else release
        mode = config.mode if mode is None else mode
        if not isinstance(mode, str) or mode.strip().lower() not in _MODES:
            raise ValueError(f"Marvin mode must be one of {', '.join(_MODES)}, not {mode!r}")
        if not isinstance(release, str) or not release.strip():
            raise ValueError(f"Marvin release must be a string such as 'DR17', not {release!r}")
        release = release.strip().upper()
        allowed = list(config.get_allowed_releases())
        if release not in allowed:
            raise ValueError(f"Marvin release {release!r} is not available (with Marvin's "
                             f"{config.access!r} access: {', '.join(allowed)})")
        self.release = release
        self.mode = mode.strip().lower()

    # -- the maps ------------------------------------------------------------------------------
    def maps_for(self, plateifu, daptype, *, line=HALPHA_CHANNEL, maskbits=None):
        """The velocity fields of an observation, through Marvin.

        The values, inverse variances, mask bits, bin indices, coordinates
        and metadata are those `~kinmisalign.read_maps` reads from the same
        MAPS file.

        Parameters
        ----------
        plateifu : str or bytes
            Observation key, checked with
            `~kinmisalign.sources.validate_plateifu`.
        daptype : str or bytes
            DAP analysis type ``<BINTYPE>-<TEMPLATE>``, e.g.
            ``'HYB10-MILESHC-MASTARSSP'``; Marvin's ``bintype`` and
            ``template``.
        line : str, optional
            Emission-line channel of the gas field (DAP name, default
            ``'Ha-6564'``).
        maskbits : {'any', 'donotuse'} or int, optional
            Which DAP mask bits make a spaxel unusable; default
            ``conf.maskbits``.

        Returns
        -------
        `~kinmisalign.MapsData`
            ``path`` is the file Marvin read, or None for maps from the API.

        Raises
        ------
        ValueError
            When a key is invalid (before Marvin is asked).
        FileNotFoundError
            When Marvin has no maps of this plate-IFU and DAPTYPE (in local
            mode, or in its data model of the release).
        `~kinmisalign.exceptions.SourceError`
            When Marvin could not fetch them from its API.
        `~kinmisalign.MapsFormatError`
            When Marvin could not read them, or they lack a map the
            measurement needs.
        """
        plateifu = validate_plateifu(plateifu)
        daptype = validate_daptype(daptype)
        bintype, _, template = daptype.partition("-")
        if not template:
            raise ValueError(f"DAPTYPE must be <BINTYPE>-<TEMPLATE> for Marvin, not {daptype!r}")
        _import_marvin()
        from marvin.tools.maps import Maps
        from marvin.utils.datamodel.dap import datamodel

        what = f"{plateifu} ({daptype}, Marvin {self.release}, mode {self.mode!r})"
        try:
            model = datamodel[self.release]
            model.get_bintype(bintype)
            model.get_template(template)
        except Exception as exc:  # MarvinError for an unknown bintype or template
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FileNotFoundError(f"no MAPS of {what}: Marvin's {self.release} data model "
                                    f"does not know this DAPTYPE ({reason})") from None
        try:
            maps = Maps(plateifu=plateifu, bintype=bintype, template=template,
                        release=self.release, mode=self.mode)
        except Exception as exc:  # Marvin raises many kinds: each one becomes ours
            origin = self._origin_guess(plateifu, daptype)
            raise self._failure(exc, what, origin, plateifu, daptype) from exc
        try:
            return _maps_data(maps, line, maskbits)
        except Exception as exc:
            raise self._failure(exc, what, maps.data_origin, plateifu, daptype) from exc
        finally:
            maps.close()

    def _local_path(self, plateifu, daptype):
        """Where Marvin's local mode looks for the file (None when it cannot say)."""
        try:
            import marvin
            from sdss_access.path import Path

            drpver, dapver = marvin.config.lookUpVersions(self.release)
            plate, ifu = plateifu.split("-")
            return Path(release=self.release).full(
                "mangadap", drpver=drpver, dapver=dapver, plate=plate, ifu=ifu, mode="MAPS",
                daptype=daptype)
        except Exception:  # only used to word error messages
            return None

    def _origin_guess(self, plateifu, daptype):
        """Where Marvin took the data from, when it failed before saying so."""
        path = self._local_path(plateifu, daptype)
        if self.mode != "remote" and path and os.path.exists(path):
            return "file"
        return "local" if self.mode == "local" else "api"

    def _failure(self, exc, what, origin, plateifu, daptype):
        """Our exception for a Marvin failure: not found, fetch failed, unreadable."""
        from marvin.core.exceptions import MarvinError

        # Marvin appends a paragraph inviting bug reports to its messages: keep the first line.
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
        if origin == "local":
            if isinstance(exc, MarvinError) and _NOT_FOUND in str(exc):
                where = self._local_path(plateifu, daptype)
                return FileNotFoundError(f"Marvin found no MAPS of {what}"
                                         + (f" (looked for {where})" if where else ""))
            return MapsFormatError(f"Marvin could not read the MAPS of {what}: {text}")
        if isinstance(exc, MapsFormatError):
            return exc
        if origin == "api":
            # Marvin's API client raises its own, Brain's and requests' errors alike.
            return SourceError(f"Marvin could not fetch the MAPS of {what}: {text}")
        return MapsFormatError(f"Marvin could not read the MAPS of {what}: {text}")

    def path_for(self, plateifu, daptype):
        """The local MAPS file Marvin reads for an observation.

        Only Marvin's local files have a path; maps served by its API do not.

        Parameters
        ----------
        plateifu, daptype : str or bytes
            As in `maps_for`.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        ValueError, FileNotFoundError, `~kinmisalign.exceptions.SourceError`
            As in `maps_for`; `~kinmisalign.exceptions.SourceError` also
            when Marvin serves these maps through its API.
        """
        from pathlib import Path

        maps = self.maps_for(plateifu, daptype)
        if maps.path is None:
            raise SourceError(f"Marvin serves the MAPS of {validate_plateifu(plateifu)} through "
                              "its API (remote mode): there is no local file; use maps_for")
        return Path(maps.path)

    def describe(self):
        """One line saying where maps come from.

        Returns
        -------
        str
        """
        return f"Marvin {self.release} ({self.mode} mode)"

    def _key(self):
        return (self.release, self.mode)

    def __repr__(self):
        return f"MarvinSource(release={self.release!r}, mode={self.mode!r})"


def _names(maps):
    """The full names of the properties in Marvin's data model of these maps."""
    return {prop.full() for prop in maps.datamodel}


def _get(maps, names, name, channel=None):
    """A Marvin Map by its exact name (Marvin's lookup is fuzzy)."""
    full = name if channel is None else f"{name}_{channel}"
    if full not in names:
        raise MapsFormatError(f"Marvin's data model of these maps has no {full!r}")
    return maps.getMap(full, exact=True)


def _plane(array, shape, label):
    array = np.asarray(array)
    if array.shape != shape:
        raise MapsFormatError(f"Marvin's {label} map has shape {array.shape}, expected {shape}")
    return array


def _field(maps, names, prop, channel, x, y, binid, name, maskbits, extension, line):
    vmap = _get(maps, names, prop, channel)
    shape = x.shape
    velocity = _plane(vmap.value, shape, prop).astype(np.float64) * vmap.unit
    if vmap.ivar is None or vmap.mask is None:
        raise MapsFormatError(f"Marvin gave no inverse variance or mask for {prop}")
    ivar = _plane(vmap.ivar, shape, f"{prop} ivar").astype(np.float64) / vmap.unit**2
    mask = _plane(vmap.mask, shape, f"{prop} mask")
    if mask.dtype.kind not in "iu":
        raise MapsFormatError(f"Marvin's {prop} mask is not integer ({mask.dtype})")
    return VelocityField(x, y, velocity, ivar=ivar, mask=mask, maskbits=maskbits, binid=binid,
                         name=name, meta={"extension": extension, "channel": line})


def _binid(maps, names, which, shape):
    full = _BINID[which]
    if full not in names:
        return None
    values = _plane(maps.getMap(full, exact=True).value, shape, full)
    # Marvin keeps maps as float Quantities; bin indices are integers in the file.
    if not np.all(np.isfinite(values) & (values == np.round(values))):
        raise MapsFormatError(f"Marvin's {full} map holds non-integer bin indices")
    return values.astype(np.int32)


def _maps_data(maps, line, maskbits):
    """`MapsData` from a Marvin Maps object, as read_maps reads the file."""
    names = _names(maps)
    xmap = _get(maps, names, "spx_skycoo", "on_sky_x")
    ymap = _get(maps, names, "spx_skycoo", "on_sky_y")
    shape = np.shape(xmap.value)
    if len(shape) != 2:
        raise MapsFormatError(f"Marvin's spx_skycoo map has shape {shape}, not a 2-D map")
    x = np.asarray(xmap.value, dtype=np.float64) * xmap.unit
    y = _plane(ymap.value, shape, "spx_skycoo_on_sky_y").astype(np.float64) * ymap.unit
    stellar = _field(maps, names, "stellar_vel", None, x, y, _binid(maps, names, "stellar", shape),
                     "stellar", maskbits, STELLAR_VEL_EXT, None)
    gas = _field(maps, names, "emline_gvel", _line_channel(line), x, y,
                 _binid(maps, names, "gas", shape), "gas", maskbits, GAS_VEL_EXT, line)
    header = maps.header
    meta = primary_meta(header, line)
    path = os.fspath(maps.filename) if maps.data_origin == "file" and maps.filename else None
    return MapsData(stellar, gas, meta=meta, header=header.copy(), path=path)

