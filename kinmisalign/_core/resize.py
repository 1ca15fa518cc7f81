"""Bicubic resizing identical to OpenCV's ``cv2.resize(..., interpolation=cv2.INTER_CUBIC)``.

The network input of Duckworth et al. (2020) was made with OpenCV; the published
model only gives its quoted probabilities on maps resized the same way. OpenCV's
cubic resize is separable, so it is written here as two matrix products,
``W_rows @ image @ W_cols.T``, which also makes batches of maps cheap.

What OpenCV does for ``INTER_CUBIC`` (checked against ``cv2.resize``):

- Keys' cubic convolution kernel with ``a = -0.75``;
- pixel-centre alignment: output pixel ``d`` samples the input at
  ``(d + 0.5) * n_in / n_out - 0.5``;
- no anti-aliasing when shrinking (always four taps);
- indices falling outside the image are clamped to the edge pixel
  (edge replication), for rows and columns alike.
"""

from functools import lru_cache

import numpy as np

__all__ = ["cubic_kernel", "cubic_resize_matrix", "resize_cubic"]

# OpenCV's choice of the free parameter of Keys' kernel (Keys 1981 used -0.5).
CUBIC_A = -0.75


def cubic_kernel(x, a=CUBIC_A):
    """Keys' cubic convolution kernel.

    Parameters
    ----------
    x : array-like
        Distance(s) in pixels.
    a : float, optional
        Free parameter (OpenCV: -0.75).

    Returns
    -------
    numpy.ndarray
        Kernel weight(s); zero for ``|x| >= 2``.
    """
    x = np.abs(np.asarray(x, dtype=np.float64))
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


@lru_cache(maxsize=64)
def _matrix(n_in, n_out):
    scale = n_in / n_out
    src = (np.arange(n_out) + 0.5) * scale - 0.5
    base = np.floor(src).astype(np.int64)
    frac = src - base
    weights = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for tap in range(-1, 3):
        # Edge replication: out-of-range taps add their weight to the edge pixel.
        index = np.clip(base + tap, 0, n_in - 1)
        np.add.at(weights, (rows, index), cubic_kernel(frac - tap))
    weights.flags.writeable = False
    return weights


def cubic_resize_matrix(n_in, n_out):
    """The matrix that resizes one axis of length ``n_in`` to ``n_out``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output lengths (both positive).

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of shape ``(n_out, n_in)``; row ``d`` holds the
        weights of output pixel ``d``.
    """
    n_in, n_out = int(n_in), int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"lengths must be positive, not {n_in} and {n_out}")
    return _matrix(n_in, n_out)


def resize_cubic(images, shape):
    """Resize images (or a stack of them) as ``cv2.resize`` with ``INTER_CUBIC``.

    Parameters
    ----------
    images : array-like
        Array of shape ``(..., ny, nx)``; the last two axes are resized.
        Non-finite values propagate to their neighbourhood, as in OpenCV.
    shape : tuple of int
        Output ``(rows, columns)``. (OpenCV's ``dsize`` is ``(columns, rows)``.)

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(..., rows, columns)``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim < 2:
        raise ValueError(f"images must have at least two dimensions, not {images.ndim}")
    ny, nx = images.shape[-2:]
    out_rows, out_cols = (int(n) for n in shape)
    w_rows = cubic_resize_matrix(ny, out_rows)
    w_cols = cubic_resize_matrix(nx, out_cols)
    # Shrink the larger dimension first: fewer operations either way.
    return w_rows @ (images @ w_cols.T)
