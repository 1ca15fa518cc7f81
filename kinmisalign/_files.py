"""Writing output files: complete or not at all, and never over a file unless asked."""

import os

__all__ = ["refuse_existing", "publish"]


def refuse_existing(paths, hint="pass overwrite=True to replace"):
    """Raise FileExistsError naming the first of ``paths`` that exists.

    Parameters
    ----------
    paths : iterable of path-like
    hint : str, optional
        How to allow replacing, appended to the message.

    Raises
    ------
    FileExistsError
    """
    existing = [os.fspath(p) for p in paths if os.path.lexists(p)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise FileExistsError(f"{existing[0]} exists{more}; {hint} it")


def publish(tmp, path, overwrite):
    """Move the finished temporary file ``tmp`` to ``path``.

    Without ``overwrite`` the move fails when ``path`` exists, also when it
    appeared while ``tmp`` was being written (a hard link cannot replace a file).

    Parameters
    ----------
    tmp, path : path-like
        Same directory (so the move is atomic).
    overwrite : bool

    Raises
    ------
    FileExistsError
        When ``path`` exists and ``overwrite`` is False.
    """
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        refuse_existing([path])
    except OSError:  # no hard links on this file system
        refuse_existing([path])
        os.replace(tmp, path)
    else:
        os.remove(tmp)
