"""Optional dependencies: imported when a feature needs them, refused in one standard message.

Each optional dependency belongs to an *extra* of the package (``setup.cfg``,
``[options.extras_require]``). A feature that needs one calls `require`, which
imports the module or raises an `ImportError` that names the feature, what is
missing and the command that installs it::

    dask = require("dask.distributed", extra="dask", feature='parallel="dask"')
"""

import importlib

__all__ = ["install_command", "require"]


def install_command(extra):
    """The command that installs an extra of kinmisalign.

    Parameters
    ----------
    extra : str
        The extra's name, e.g. ``'nn'``.

    Returns
    -------
    str
        ``pip install "kinmisalign[<extra>]"``
    """
    return f'pip install "kinmisalign[{extra}]"'


def require(module, *, extra, feature, package=None, note=""):
    """Import an optional dependency, or say which extra installs it.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``'dask.distributed'``.
    extra : str
        The extra of kinmisalign that installs it.
    feature : str
        What needs it, as the user asked for it (``'progress_bar=True'``,
        ``'the Marvin source'``); the message starts with it.
    package : str, optional
        The distribution to name when it differs from the module
        (``'sdss-marvin'`` for ``marvin``).
    note : str, optional
        Said after the install command (e.g. where to install it).

    Returns
    -------
    module

    Raises
    ------
    ImportError
        ``<feature> needs <package>, which cannot be imported (<why>);
        install it with: pip install "kinmisalign[<extra>]"``, chained to the
        original error.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = (f"{feature} needs {package or module}, which cannot be imported ({exc}); "
                   f"install it with: {install_command(extra)}")
        raise ImportError(message + (f" {note}" if note else ""), name=module) from exc
