"""Exceptions raised by kinmisalign."""

__all__ = ["KinmisalignError", "MapsFormatError", "FitError", "NotEnoughPointsError",
           "SourceError", "InsecureRedirectError", "DownloadTooLargeError", "CheckpointError"]


class KinmisalignError(Exception):
    """Base class of the errors raised by kinmisalign."""


class MapsFormatError(KinmisalignError, ValueError):
    """A MAPS file is not readable or does not follow the DAP data model."""


class FitError(KinmisalignError, ValueError):
    """A velocity field cannot be fitted: no velocity gradient, degenerate geometry, ..."""


class NotEnoughPointsError(FitError):
    """A velocity field has too few usable points for a fit."""


class SourceError(KinmisalignError, OSError):
    """A MAPS file could not be fetched: download failed, timed out or arrived broken."""


class InsecureRedirectError(SourceError):
    """A server redirected a download off HTTPS, or to a scheme other than http(s)."""


class DownloadTooLargeError(SourceError):
    """A download is larger than the configured limit (``conf.download_max_size``)."""


class CheckpointError(KinmisalignError):
    """A checkpoint file cannot be used: not a checkpoint, in use, or of other settings."""
