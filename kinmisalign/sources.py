"""Where MAPS files come from: a local directory or the survey data server.

A *source* turns an observation key into the path of a local MAPS file::

    source = get_source("sas")               # or a directory, a mirror URL, None
    path = source.path_for("7815-3702", "HYB10-MILESHC-MASTARSSP")

`LocalSource` looks the file up in a directory (the survey's own
``<DAPTYPE>/<plate>/<ifu>/`` tree, a local copy of the archive, or all files
side by side). `SurveySource` downloads it from the SDSS Science Archive
Server (or a mirror with its layout) into astropy's download cache,
package name ``kinmisalign``, so each file is fetched once: over HTTPS
unless a plain-HTTP mirror is configured explicitly, never following a
redirect off HTTPS, up to ``conf.download_max_size``, and kept only after
it proved to be a complete MAPS file.

Keys are untrusted input (catalogue rows, command lines): `validate_plateifu`
and `validate_daptype` accept only the survey's own forms, and every source
checks both before it builds a path or a URL, so no key can reach outside the
directory or the archive. `maps_filename` builds a MAPS file's name from
checked keys and `parse_maps_filename` reads them back from a found file's
name: the only place where such names are made or read.

Sources are small picklable objects: the settings they use (base URL,
timeout, retries) are read from `kinmisalign.conf` when the source is made,
so worker processes use the same ones as the process that made it.
"""

import gzip
import http.client
import importlib
import io
import os
import re
import time
import urllib.error
import urllib.parse
import zlib
from pathlib import Path

from ._datamodel import GAS_VEL_EXT, SKYCOO_EXT, STELLAR_VEL_EXT
from ._filenames import (
    _short,
    maps_filename,
    parse_maps_filename,
    validate_daptype,
    validate_plateifu,
)
from .config import conf
from .exceptions import SourceError

__all__ = [
    "validate_plateifu",
    "validate_daptype",
    "maps_filename",
    "parse_maps_filename",
    "maps_basename",
    "RELEASES",
    "MapsSource",
    "LocalSource",
    "SurveySource",
    "SourceError",
    "get_source",
]

PKGNAME = "kinmisalign"

RELEASES = {
    "DR17": "dr17/manga/spectro/analysis/v3_1_1/3.1.0",
    "DR15": "dr15/manga/spectro/analysis/v2_4_3/2.2.1",
}
"""The data releases a `SurveySource` knows: ``{release: directory}``.

The directory holds the release's DAP products, below the SAS base URL
(``kinmisalign.conf.sas_base_url``); the files of one DAPTYPE are below
``<directory>/<DAPTYPE>/<plate>/<ifu>/``.
"""

# Extensions the reader needs, besides the QUALDATA/ERRDATA companions they name.
_REQUIRED_EXTENSIONS = (SKYCOO_EXT, STELLAR_VEL_EXT, GAS_VEL_EXT)


def maps_basename(plateifu, daptype):
    """Survey file name of a MAPS file, from checked keys (same as `maps_filename`).

    Parameters
    ----------
    plateifu, daptype : str or bytes
        Checked with `validate_plateifu` and `validate_daptype`.

    Returns
    -------
    str
        ``manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits.gz``
    """
    return maps_filename(plateifu, daptype)


def _keys(plateifu, daptype):
    """Checked (plate, ifu, daptype, file name); the only way sources build names."""
    plateifu = validate_plateifu(plateifu)
    daptype = validate_daptype(daptype)
    plate, ifu = plateifu.split("-")
    return plate, ifu, daptype, maps_filename(plateifu, daptype)


class MapsSource:
    """Base class of MAPS file sources.

    A source has one job: `path_for` gives the local path of the MAPS file of
    an observation, fetching it first if needed. Subclasses must stay
    picklable (they are sent to worker processes).
    """

    def path_for(self, plateifu, daptype):
        """Local path of the MAPS file of an observation.

        Parameters
        ----------
        plateifu : str or bytes
            Observation key, checked with `validate_plateifu`.
        daptype : str or bytes
            DAP analysis type, checked with `validate_daptype`.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        ValueError
            When a key is invalid (before any path or URL is built).
        FileNotFoundError
            When the source has no MAPS file for this plateifu and DAPTYPE.
        `~kinmisalign.exceptions.SourceError`
            When the file exists but could not be fetched.
        """
        raise NotImplementedError

    def describe(self):
        """One line saying where files come from, for logs and table metadata.

        Returns
        -------
        str
        """
        raise NotImplementedError

    def _key(self):
        return ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))


class LocalSource(MapsSource):
    """MAPS files in a local directory.

    Parameters
    ----------
    directory : str or path-like
        The directory; it must exist.
    layout : {'auto', 'tree', 'flat', 'recursive'}, optional
        ``'tree'``: the survey's layout
        ``<directory>/<DAPTYPE>/<plate>/<ifu>/manga-...fits.gz``, or a local
        copy of the archive with the release path in between
        (``<directory>/dr17/manga/spectro/analysis/v3_1_1/3.1.0/<DAPTYPE>/...``).
        ``'flat'``: ``<directory>/manga-...fits.gz``. ``'auto'`` (default)
        tries the tree first, then flat. ``'recursive'``: a file of the
        survey's name anywhere below the directory, in any arrangement of
        sub-directories (indexed once, when the source is first asked).
        Uncompressed ``.fits`` files are found too.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        When ``directory`` does not exist or is not a directory.
    ValueError
        When ``layout`` is unknown.
    """

    LAYOUTS = ("auto", "tree", "flat", "recursive")

    def __init__(self, directory, layout="auto"):
        if layout not in self.LAYOUTS:
            raise ValueError(f"layout must be one of {self.LAYOUTS}, not {layout!r}")
        directory = Path(directory).expanduser()
        if not directory.exists():
            raise FileNotFoundError(f"MAPS directory {directory} does not exist")
        if not directory.is_dir():
            raise NotADirectoryError(f"{directory} is not a directory")
        # Absolute, so a worker with another working directory finds the same files.
        self.directory = directory.resolve()
        self.layout = layout
        self._index = None  # 'recursive': {plateifu: [(daptype, path), ...]}, built on first use

    def __getstate__(self):
        # Workers rebuild the index themselves rather than receive a large one.
        return {**self.__dict__, "_index": None}

    def _indexed(self):
        """Every MAPS file below the directory, by plateifu (layout 'recursive')."""
        if self._index is None:
            index = {}
            for folder, _, names in os.walk(self.directory):
                for name in names:
                    keys = parse_maps_filename(name)
                    if keys:
                        index.setdefault(keys[0], []).append((keys[1], Path(folder) / name))
            self._index = index
        return self._index

    def candidates(self, plateifu, daptype):
        """Paths where the file is looked for, in order (layout 'recursive': the files found).

        Parameters
        ----------
        plateifu, daptype : str or bytes

        Returns
        -------
        list of pathlib.Path
        """
        plate, ifu, daptype, name = _keys(plateifu, daptype)
        if self.layout == "recursive":
            return self.find(plateifu, daptype)
        dirs = []
        if self.layout in ("auto", "tree"):
            dirs.append(self.directory / daptype / plate / ifu)
            dirs.extend(self.directory / sub / daptype / plate / ifu for sub in RELEASES.values())
        if self.layout in ("auto", "flat"):
            dirs.append(self.directory)
        stem = maps_filename(plateifu, daptype, gzip=False)
        return [d / n for d in dirs for n in (name, stem)]

    def find(self, plateifu, daptype=None):
        """The MAPS files of an observation that the directory holds.

        Parameters
        ----------
        plateifu : str or bytes
            Observation key, checked with `validate_plateifu`.
        daptype : str or bytes, optional
            Only files of this DAP analysis type (checked with
            `validate_daptype`); default files of any type.

        Returns
        -------
        list of pathlib.Path
            Sorted; empty when there is none.
        """
        plateifu = validate_plateifu(plateifu)
        daptype = None if daptype is None else validate_daptype(daptype)
        if self.layout == "recursive":
            found = [path for kind, path in self._indexed().get(plateifu, [])
                     if daptype is None or kind == daptype]
        elif daptype is not None:
            found = [path for path in self.candidates(plateifu, daptype) if path.is_file()]
        else:
            found = [path for kind in self._daptypes_of(plateifu)
                     for path in self.find(plateifu, kind)]
        return sorted(set(found))

    def _daptypes_of(self, plateifu):
        """DAPTYPEs of the files of ``plateifu`` in the directory's layout."""
        plate, ifu = plateifu.split("-")
        # Keys are checked before they reach a pattern; file names are read by parsing only.
        patterns = []
        if self.layout in ("auto", "tree"):
            patterns.append(f"*/{plate}/{ifu}/*")
            patterns.extend(f"{sub}/*/{plate}/{ifu}/*" for sub in RELEASES.values())
        if self.layout in ("auto", "flat"):
            patterns.append("*")
        kinds = set()
        for pattern in patterns:
            for path in self.directory.glob(pattern):
                keys = parse_maps_filename(path.name)
                if keys and keys[0] == plateifu:
                    kinds.add(keys[1])
        return sorted(kinds)

    def path_for(self, plateifu, daptype):
        if self.layout == "recursive":
            found = self.find(plateifu, daptype)
            if len(found) > 1:
                raise SourceError(
                    f"several MAPS files of {validate_plateifu(plateifu)} "
                    f"({validate_daptype(daptype)}) below {self.directory}: "
                    f"{', '.join(os.path.relpath(p, self.directory) for p in found)}")
            if not found:
                raise FileNotFoundError(
                    f"no MAPS file of {validate_plateifu(plateifu)} ({validate_daptype(daptype)}) "
                    f"below {self.directory} (layout 'recursive')")
            return found[0]
        candidates = self.candidates(plateifu, daptype)
        for path in candidates:
            if path.is_file():
                return path
        raise FileNotFoundError(
            f"no MAPS file of {validate_plateifu(plateifu)} ({validate_daptype(daptype)}) in "
            f"{self.directory} (layout {self.layout!r}; looked for {candidates[0].name} "
            f"in {len(candidates) // 2} places)")

    path_for.__doc__ = MapsSource.path_for.__doc__

    def describe(self):
        """One line saying where files come from.

        Returns
        -------
        str
        """
        return f"local directory {self.directory} (layout {self.layout})"

    def _key(self):
        return (str(self.directory), self.layout)

    def __repr__(self):
        return f"LocalSource({str(self.directory)!r}, layout={self.layout!r})"


def _check_base_url(url):
    """Refuse base URLs that are not plain http(s)://host/path."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"base URL must be a non-empty string, not {_short(url)}")
    url = url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"base URL must start with https:// (or http:// for a mirror), "
                         f"not {_short(url)}")
    if not parts.hostname:
        raise ValueError(f"base URL {_short(url)} has no host")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"base URL {_short(url)} must not carry a query or fragment")
    if "@" in parts.netloc:
        # It would be stored in clear in the cache and sent to every redirect.
        raise ValueError("base URL must not hold credentials")
    return url


def _close(exc):
    # An HTTPError holds the open response: close it rather than leak the socket.
    if callable(getattr(exc, "close", None)):
        exc.close()


def _is_timeout(exc):
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None),
                                                       TimeoutError)


def _in_cache(url):
    from ._download import cached_path

    return cached_path(url, PKGNAME) is not None


def _check_download(path, url):
    """Raise SourceError unless ``path`` is a complete gzip stream of a MAPS file."""
    from astropy.io import fits

    # Reading the whole stream checks its CRC and length: a cut-short or
    # corrupted file fails here even where the FITS reader would not look.
    # One pass into memory, as read_maps does, rather than astropy's seeks on gzip.
    try:
        with gzip.open(path, "rb") as fh:
            data = io.BytesIO(fh.read())
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"{url} arrived truncated or corrupt (not a complete gzip "
                          f"file: {exc})") from exc
    try:
        with fits.open(data, memmap=False, lazy_load_hdus=False) as hdul:
            names = {hdu.name for hdu in hdul}
            needed = set(_REQUIRED_EXTENSIONS)
            for name in _REQUIRED_EXTENSIONS:
                if name in names:
                    header = hdul[name].header
                    needed.update(str(header[k]).strip() for k in ("QUALDATA", "ERRDATA")
                                  if k in header)
    except Exception as exc:  # astropy raises many kinds on non-FITS data
        raise SourceError(f"{url} is not a readable FITS file ({exc})") from exc
    missing = sorted(needed - names)
    if missing:
        raise SourceError(f"{url} is not a MAPS file: no extension {', '.join(missing)}")


class SurveySource(MapsSource):
    """MAPS files downloaded from the SDSS Science Archive Server (or a mirror).

    The URL of a file is
    ``<base_url>/dr17/manga/spectro/analysis/v3_1_1/3.1.0/<DAPTYPE>/<plate>/<ifu>/manga-<plate>-<ifu>-MAPS-<DAPTYPE>.fits.gz``
    (for DR17). Files go through astropy's download cache (package name
    ``kinmisalign``): each is downloaded once and checked (complete gzip
    stream, FITS file with the extensions the reader needs) before it enters
    the cache; a broken, cut-short or oversized download leaves no file
    behind. A redirect from HTTPS to plain HTTP (or to another scheme) is
    refused.

    Parameters
    ----------
    base_url : str, optional
        Archive base URL; default ``conf.sas_base_url``
        (``https://data.sdss.org/sas``). HTTPS by default; a plain
        ``http://`` mirror is used only when given here or in the
        configuration.
    release : {'DR17', 'DR15'}, optional
        Data release, which sets the DAP directory below the base URL.
    timeout : float, optional
        Seconds each connection may stay silent; default
        ``conf.download_timeout``.
    retries : int, optional
        Further attempts after a server error (5xx), a connection error or a
        timeout; default ``conf.download_retries``.
    retry_wait : float, optional
        Pause in seconds before the first retry, doubled for each next one.
    max_size : float, optional
        Largest accepted file in megabytes (10**6 bytes); default
        ``conf.download_max_size``. A download is stopped as soon as it
        passes the limit.

    Raises
    ------
    ValueError
        When the base URL, release or numbers are invalid.
    """

    def __init__(self, base_url=None, release="DR17", *, timeout=None, retries=None,
                 retry_wait=1.0, max_size=None):
        # Read the configuration now: worker processes do not see set_temp values.
        self.base_url = _check_base_url(conf.sas_base_url if base_url is None else base_url)
        release_key = str(release).strip().upper()
        if release_key not in RELEASES:
            raise ValueError(f"release must be one of {', '.join(RELEASES)}, not {release!r}")
        self.release = release_key
        self.timeout = float(conf.download_timeout if timeout is None else timeout)
        self.retries = int(conf.download_retries if retries is None else retries)
        self.retry_wait = float(retry_wait)
        self.max_size = float(conf.download_max_size if max_size is None else max_size)
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if not self.max_size > 0:
            raise ValueError(f"max_size must be positive, not {self.max_size}")
        if self.retries < 0 or self.retry_wait < 0:
            raise ValueError("retries and retry_wait must not be negative")

    def url_for(self, plateifu, daptype):
        """URL of the MAPS file of an observation.

        Parameters
        ----------
        plateifu, daptype : str or bytes
            Checked with `validate_plateifu` and `validate_daptype`.

        Returns
        -------
        str
        """
        plate, ifu, daptype, name = _keys(plateifu, daptype)
        return f"{self.base_url}/{RELEASES[self.release]}/{daptype}/{plate}/{ifu}/{name}"

    def path_for(self, plateifu, daptype):
        # A cached file was checked before it entered the cache.
        return Path(self._download(self.url_for(plateifu, daptype)))

    path_for.__doc__ = MapsSource.path_for.__doc__

    def _download(self, url):
        from ._download import fetch_to_cache  # urllib.request, tempfile: only when downloading

        attempts = self.retries + 1
        max_bytes = int(self.max_size * 1e6)
        for attempt in range(attempts):
            try:
                return fetch_to_cache(url, timeout=self.timeout, max_bytes=max_bytes,
                                      check=_check_download, pkgname=PKGNAME)
            except SourceError:
                # Not a MAPS file, too large, an insecure redirect: a retry gives the same.
                raise
            except urllib.error.HTTPError as exc:
                _close(exc)
                if exc.code in (404, 410):
                    raise FileNotFoundError(f"no MAPS file at {url} (HTTP {exc.code})") from None
                if exc.code < 500 and exc.code not in (408, 429):
                    raise SourceError(f"could not download {url}: HTTP {exc.code} "
                                      f"{exc.reason}") from None
                last = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, TimeoutError, ConnectionError,
                    http.client.HTTPException) as exc:
                # Connection refused or reset, cut-short body, timeout: worth another try.
                last = "timed out" if _is_timeout(exc) else str(getattr(exc, "reason", exc))
            except OSError as exc:
                # Local trouble (disk full, cache unwritable): retrying will not help.
                raise SourceError(f"could not download {url}: {exc}") from exc
            if attempt + 1 < attempts:
                time.sleep(self.retry_wait * 2**attempt)
        raise SourceError(f"could not download {url} ({attempts} attempt"
                          f"{'s' if attempts > 1 else ''}): {last}")

    def describe(self):
        """One line saying where files come from.

        Returns
        -------
        str
        """
        return f"SDSS archive {self.release} at {self.base_url}"

    def _key(self):
        return (self.base_url, self.release, self.timeout, self.retries, self.retry_wait,
                self.max_size)

    def __repr__(self):
        return (f"SurveySource({self.base_url!r}, release={self.release!r}, "
                f"timeout={self.timeout:g}, retries={self.retries})")


_SURVEY_NAMES = ("sas", "survey")
# Sources that live in modules of their own, made by name: (module, class). The module is
# imported only when the name is asked for, so this module never depends on them (they
# build on it: a MarvinSource is a MapsSource).
_NAMED_SOURCES = {"marvin": ("kinmisalign.marvin", "MarvinSource")}


def get_source(spec=None):
    """Make a MAPS source from a short description.

    Parameters
    ----------
    spec : None, str, path-like or `MapsSource`, optional
        ``None``: ``conf.maps_source`` (default ``'sas'``). ``'sas'`` or
        ``'survey'``: `SurveySource` with the configured base URL.
        ``'marvin'``: `~kinmisalign.marvin.MarvinSource` with Marvin's own
        release and mode (needs the ``marvin`` extra). An ``https://`` (or
        ``http://``) URL: `SurveySource` of a mirror with the archive's
        layout. Any other string or path: a `LocalSource` directory (write
        ``./sas`` for a directory named like a keyword). A source object is
        returned as it is.

    Returns
    -------
    `MapsSource`

    Raises
    ------
    ValueError
        For a URL of another scheme or an empty string.
    ImportError
        For ``'marvin'`` without Marvin installed.
    FileNotFoundError, NotADirectoryError
        For a path that is not a directory.
    TypeError
        For anything else.
    """
    if spec is None:
        spec = conf.maps_source
    if isinstance(spec, MapsSource):
        return spec
    if isinstance(spec, os.PathLike):
        return LocalSource(spec)
    if not isinstance(spec, str):
        # Duck typing, so callers can plug in their own sources.
        if callable(getattr(spec, "path_for", None)):
            return spec
        raise TypeError(f"a MAPS source must be None, a string, a path or a source object, "
                        f"not {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise ValueError("MAPS source is an empty string")
    if text.lower() in _SURVEY_NAMES:
        return SurveySource()
    if text.lower() in _NAMED_SOURCES:
        module, name = _NAMED_SOURCES[text.lower()]
        return getattr(importlib.import_module(module), name)()
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
        return SurveySource(base_url=text)
    return LocalSource(text)
