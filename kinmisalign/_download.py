"""Downloads into astropy's cache that refuse insecure redirects and oversized files.

`astropy.utils.data.download_file` follows every redirect urllib follows
(HTTPS to plain HTTP included) and writes whatever the server sends. The
network part is therefore done here, with an opener that refuses redirects
leaving HTTPS (or to any scheme but http/https) and a size limit enforced
while reading; the file is checked by the caller's function and only then
handed to astropy's cache (`astropy.utils.data.import_file_to_cache`), so a
broken or hostile download is never cached. Cached files are read back with
`~astropy.utils.data.download_file`. No temporary file survives a failure.
"""

import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings

from .exceptions import DownloadTooLargeError, InsecureRedirectError, SourceError

__all__ = ["cached_path", "fetch_to_cache"]

_BLOCK = 1 << 16
_SCHEMES = ("http", "https")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only within http(s), and never from HTTPS down to HTTP."""

    max_redirections = 5

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("location") or headers.get("uri")
        if target:
            # Checked here, before urllib's own scheme check, for a clear error type.
            newurl = urllib.parse.urljoin(req.full_url, target)
            old = urllib.parse.urlsplit(req.full_url).scheme.lower()
            new = urllib.parse.urlsplit(newurl).scheme.lower()
            if new not in _SCHEMES or (old == "https" and new != "https"):
                fp.close()
                raise InsecureRedirectError(
                    f"refused the redirect of {req.full_url} to {newurl} (HTTP {code}): only "
                    "http(s) is followed, and a download that starts over HTTPS must stay on "
                    "HTTPS")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _ssl_context():
    import ssl

    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _opener():
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=_ssl_context()),
                                       _CheckedRedirects())


def cached_path(url, pkgname):
    """Path of ``url`` in astropy's download cache, or None when it is not there.

    Parameters
    ----------
    url : str
    pkgname : str
        Cache name.

    Returns
    -------
    str or None
    """
    from astropy.utils.data import CacheMissingWarning, download_file, is_url_in_cache

    # Before the first download the cache directory does not exist and astropy
    # warns; here that just means "not cached".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheMissingWarning)
        if not is_url_in_cache(url, pkgname=pkgname):
            return None
        try:
            # sources=[]: read the cache only, never the network.
            return download_file(url, cache=True, sources=[], pkgname=pkgname)
        except KeyError:  # removed by another process meanwhile
            return None


def fetch_to_cache(url, *, timeout, max_bytes, check=None, pkgname="kinmisalign"):
    """Download ``url`` (unless cached), check it, and keep it in astropy's cache.

    Parameters
    ----------
    url : str
        An http(s) URL.
    timeout : float
        Seconds the connection may stay silent.
    max_bytes : int
        Largest accepted file; the download stops as soon as it is exceeded
        (at once when the server announces a larger ``Content-Length``).
    check : callable, optional
        ``check(path, url)`` raises when the downloaded file must not be used;
        the file is then deleted and nothing is cached.
    pkgname : str, optional
        Name of astropy's download cache.

    Returns
    -------
    str
        Path of the file in the cache.

    Raises
    ------
    InsecureRedirectError
        On a redirect off HTTPS or to another scheme.
    DownloadTooLargeError
        When the file exceeds ``max_bytes``.
    urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException
        Network failures (``HTTPError`` for an HTTP error status);
        ``urllib.error.ContentTooShortError`` when the body ends before its
        announced length.
    Exception
        Whatever ``check`` raises.
    """
    from astropy.utils.data import conf as data_conf
    from astropy.utils.data import import_file_to_cache

    path = cached_path(url, pkgname)
    if path is not None:
        return path
    if urllib.parse.urlsplit(url).scheme.lower() not in _SCHEMES:
        raise ValueError(f"only http(s) URLs are downloaded, not {url}")
    if not data_conf.allow_internet:
        raise SourceError(f"could not download {url}: astropy's allow_internet is off")
    request = urllib.request.Request(
        url, headers={"User-Agent": data_conf.default_http_user_agent, "Accept": "*/*"})
    max_bytes = int(max_bytes)
    with _opener().open(request, timeout=timeout) as response:
        try:
            announced = int(response.headers["Content-Length"])
        except (TypeError, ValueError):
            announced = None
        if announced is not None and announced > max_bytes:
            raise DownloadTooLargeError(f"{url} is {announced} bytes, more than the limit of "
                                        f"{max_bytes} bytes (kinmisalign.conf.download_max_size)")
        handle = tempfile.NamedTemporaryFile(prefix="kinmisalign-download-", delete=False)
        tmp = handle.name
        try:
            with handle:
                received = 0
                while block := response.read(_BLOCK):
                    received += len(block)
                    if received > max_bytes:
                        raise DownloadTooLargeError(
                            f"{url} is larger than the limit of {max_bytes} bytes "
                            "(kinmisalign.conf.download_max_size); download stopped")
                    handle.write(block)
            if announced is not None and received < announced:
                raise urllib.error.ContentTooShortError(
                    f"{url} ended after {received} of {announced} bytes", None)
            if check is not None:
                check(tmp, url)
            # replace=False: a copy fetched meanwhile by another process is as good.
            return import_file_to_cache(url, tmp, remove_original=True, replace=False,
                                        pkgname=pkgname)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
