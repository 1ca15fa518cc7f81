# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled chi-square scan of the point-symmetry fit (arrays in, arrays out).

For every point and every trial axis the mirror image of the point is located
in a Delaunay triangulation of the data and the data are interpolated linearly
there. The images of one point for successive trial angles lie close together
on the point's circle about the centre, so each is found by walking from the
triangle that held the previous one: most walks are zero or one step long.
Everything for a point (its images, the symmetrised model at every angle, its
share of the chi-square) is done in one pass, with no temporary arrays.

Point location follows the usual rules of a linear interpolator on a Delaunay
triangulation (as ``scipy.interpolate.LinearNDInterpolator`` has them): a point
belongs to a triangle when none of its barycentric coordinates is negative
beyond rounding (``EPS`` times the size of the terms summed into it); points
outside the convex hull, and triangles of zero area, give NaN. The tolerance
scales with the terms because mirror images of points on the edge of the
footprint often land exactly on other edge points (the DAP's spaxel offsets are
symmetric to single precision), in thin hull triangles whose coordinates are
sums of large terms: such a point is on the hull, whichever way the walk came.
"""

import numpy as np

cimport cython
from libc.math cimport NAN, fabs, isfinite
from libc.stdlib cimport free, malloc

__all__ = ["Triangulation", "chi2_scan", "model_at"]

# Tolerance on barycentric coordinates, relative to the terms summed into them.
cdef double EPS = 100.0 * 2.220446049250313e-16


cdef struct Triangle:
    # (l0, l1) = [[t00, t01], [t10, t11]] @ (q - (x2, y2)) and l2 = 1 - l0 - l1 are the
    # barycentric coordinates of q; v = a x + b y + c is the interpolating plane; nb[k] is
    # the triangle across the edge opposite vertex k (-1 on the hull). NaN if degenerate.
    double t00, t01, t10, t11, x2, y2, a, b, c
    int nb[3]


@cython.final  # direct (inlinable) calls of the cdef methods, not through a vtable
cdef class Triangulation:
    """A triangulation prepared for point location and linear interpolation.

    Parameters
    ----------
    x, y : ndarray of float64
        Coordinates of the data points.
    v : ndarray of float64
        Data values at the points.
    simplices : ndarray of int32, shape (M, 3)
        Vertex indices of each triangle.
    neighbors : ndarray of int32, shape (M, 3)
        ``neighbors[t, k]`` is the triangle across the edge opposite vertex
        ``k`` of triangle ``t``, or -1 on the convex hull.
    """

    cdef Triangle *tri
    cdef double xmin, xmax, ymin, ymax, pad
    cdef int ntri

    def __cinit__(self, double[::1] x, double[::1] y, double[::1] v, int[:, ::1] simplices,
                  int[:, ::1] neighbors):
        cdef Py_ssize_t t, k, n = x.shape[0], m = simplices.shape[0]
        cdef int i0, i1, i2
        cdef double x0, y0, x1, y1, det, scale, d0, d1
        cdef Triangle *tr
        self.tri = NULL
        if y.shape[0] != n or v.shape[0] != n:
            raise ValueError("x, y and v differ in size")
        if simplices.shape[1] != 3 or neighbors.shape[0] != m or neighbors.shape[1] != 3:
            raise ValueError("simplices and neighbors must both have shape (M, 3)")
        if n == 0 or m == 0:
            raise ValueError("no triangles")
        if m > 2**30:
            raise ValueError("too many triangles")
        for t in range(m):
            for k in range(3):
                if not (0 <= simplices[t, k] < n) or not (-1 <= neighbors[t, k] < m):
                    raise ValueError("a simplex or neighbour index is out of range")
        self.tri = <Triangle *>malloc(m * sizeof(Triangle))
        if self.tri == NULL:
            raise MemoryError()
        self.ntri = <int>m
        self.xmin = self.xmax = x[0]
        self.ymin = self.ymax = y[0]
        for t in range(n):
            self.xmin = min(self.xmin, x[t])
            self.xmax = max(self.xmax, x[t])
            self.ymin = min(self.ymin, y[t])
            self.ymax = max(self.ymax, y[t])
        # A margin for rounding: a point on the hull is never cut off by the box.
        self.pad = EPS * (1.0 + max(fabs(self.xmin), fabs(self.xmax), fabs(self.ymin),
                                    fabs(self.ymax)))
        for t in range(m):
            tr = &self.tri[t]
            for k in range(3):
                tr.nb[k] = neighbors[t, k]
            i0, i1, i2 = simplices[t, 0], simplices[t, 1], simplices[t, 2]
            x0, y0 = x[i0] - x[i2], y[i0] - y[i2]
            x1, y1 = x[i1] - x[i2], y[i1] - y[i2]
            det = x0 * y1 - x1 * y0
            scale = (fabs(x0) + fabs(x1)) * (fabs(y0) + fabs(y1))
            if not (fabs(det) > EPS * scale) or not isfinite(det):
                # Zero area (or nearly): no interpolation here, as for a singular transform.
                tr.t00 = tr.t01 = tr.t10 = tr.t11 = tr.x2 = tr.y2 = NAN
                tr.a = tr.b = tr.c = NAN
                continue
            # The inverse of [[x0, x1], [y0, y1]].
            tr.t00 = y1 / det
            tr.t01 = -x1 / det
            tr.t10 = -y0 / det
            tr.t11 = x0 / det
            tr.x2 = x[i2]
            tr.y2 = y[i2]
            # The plane through the three data values: v = v2 + l0 (v0 - v2) + l1 (v1 - v2).
            d0 = v[i0] - v[i2]
            d1 = v[i1] - v[i2]
            tr.a = tr.t00 * d0 + tr.t10 * d1
            tr.b = tr.t01 * d0 + tr.t11 * d1
            tr.c = v[i2] - tr.a * x[i2] - tr.b * y[i2]

    def __dealloc__(self):
        free(self.tri)

    def find(self, double[::1] qx, double[::1] qy):
        """Triangle holding each query point (-1 outside the hull), for tests."""
        cdef Py_ssize_t i
        cdef int start = 0
        if qy.shape[0] != qx.shape[0]:
            raise ValueError("qx and qy differ in size")
        out = np.empty(qx.shape[0], dtype=np.intc)
        cdef int[::1] found = out
        for i in range(qx.shape[0]):
            found[i] = self._locate(qx[i], qy[i], &start)
        return out

    def interpolate(self, double[::1] qx, double[::1] qy):
        """Linear interpolation at the query points (NaN outside the hull)."""
        cdef Py_ssize_t i
        cdef int start = 0
        if qy.shape[0] != qx.shape[0]:
            raise ValueError("qx and qy differ in size")
        out = np.empty(qx.shape[0])
        cdef double[::1] values = out
        with nogil:
            for i in range(qx.shape[0]):
                values[i] = self._value(qx[i], qy[i], &start)
        return out

    cdef inline int _inside(self, int t, double qx, double qy, int *exit_edge) noexcept nogil:
        """1 if (qx, qy) is in triangle t, else 0 with the edge to leave by; -1 if degenerate."""
        cdef Triangle *tr = &self.tri[t]
        cdef double dx = qx - tr.x2, dy = qy - tr.y2
        cdef double p0 = tr.t00 * dx, p1 = tr.t01 * dy, p2 = tr.t10 * dx, p3 = tr.t11 * dy
        cdef double lam[3]
        cdef double tol[3]
        cdef int k, worst = 0
        lam[0] = p0 + p1
        lam[1] = p2 + p3
        lam[2] = 1.0 - lam[0] - lam[1]
        if lam[0] >= -EPS and lam[1] >= -EPS and lam[2] >= -EPS:
            return 1  # the common case, well inside
        if not isfinite(lam[2]):
            return -1
        # Each coordinate is known to within a few roundings of the terms summed into it.
        tol[0] = EPS * (1.0 + fabs(p0) + fabs(p1))
        tol[1] = EPS * (1.0 + fabs(p2) + fabs(p3))
        tol[2] = tol[0] + tol[1]
        # Leave by the edge whose coordinate is the most negative: the shortest way on.
        for k in range(1, 3):
            if lam[k] + tol[k] < lam[worst] + tol[worst]:
                worst = k
        if lam[worst] >= -tol[worst]:
            return 1
        exit_edge[0] = worst
        return 0

    cdef int _brute_force(self, double qx, double qy) noexcept nogil:
        cdef int t, edge
        for t in range(self.ntri):
            if self._inside(t, qx, qy, &edge) == 1:
                return t
        return -1

    cdef int _locate(self, double qx, double qy, int *start) noexcept nogil:
        """Triangle holding (qx, qy), or -1 outside the hull; ``start`` is updated."""
        cdef int t = start[0], edge = 0, step, state, nxt
        if not (qx >= self.xmin - self.pad and qx <= self.xmax + self.pad
                and qy >= self.ymin - self.pad and qy <= self.ymax + self.pad):
            return -1  # outside the bounding box (or NaN)
        if t < 0 or t >= self.ntri:
            t = 0
        # A walk in a Delaunay triangulation visits each triangle at most once; the cap
        # only guards against rounding in near-degenerate configurations.
        for step in range(self.ntri + 8):
            state = self._inside(t, qx, qy, &edge)
            if state == 1:
                start[0] = t
                return t
            if state == -1:
                break  # a degenerate triangle on the way: search them all
            nxt = self.tri[t].nb[edge]
            if nxt == -1:
                # Beyond a hull edge's line: outside the (convex) hull.
                start[0] = t
                return -1
            t = nxt
        t = self._brute_force(qx, qy)
        if t >= 0:
            start[0] = t
        return t

    cdef inline double _value(self, double qx, double qy, int *start) noexcept nogil:
        cdef int t = self._locate(qx, qy, start)
        if t < 0:
            return NAN
        return self.tri[t].a * qx + self.tri[t].b * qy + self.tri[t].c


cdef inline void _mirror_image(double x, double y, double turn_re, double turn_im,
                               double *qx, double *qy) noexcept nogil:
    """The mirror image ``conj(x + i y) * turn`` of a point (see `chi2_scan`)."""
    qx[0] = x * turn_re + y * turn_im
    qy[0] = x * turn_im - y * turn_re


cdef inline double _model(double v, double v_axis, double v_perp, double v_centre) noexcept nogil:
    """Point-symmetric value: the mean of v, v_axis, -v_perp and -v_centre over the finite ones.

    The sums are made in the order of the vectorised reference (axis, minus
    perpendicular, plus the data less the centre term), so that both agree to
    rounding.
    """
    cdef double total = 0.0, count = 1.0, base = v
    if isfinite(v_centre):
        base = v - v_centre
        count += 1.0
    if isfinite(v_axis):
        total = v_axis
        count += 1.0
    if isfinite(v_perp):
        total = total - v_perp
        count += 1.0
    return (total + base) / count


def chi2_scan(Triangulation tri, double[::1] x, double[::1] y, double[::1] v, double[::1] dvel,
              double[::1] turn_re, double[::1] turn_im, bint periodic, double[::1] chi2,
              double[::1] v_centre):
    """Chi-square of the point-symmetric model at every trial axis.

    Parameters
    ----------
    tri : Triangulation
        The data ``(x, y, v)`` triangulated.
    x, y, v : ndarray of float64
        The data points.
    dvel : ndarray of float64
        Velocity errors, one per point or a single one for all.
    turn_re, turn_im : ndarray of float64
        ``-exp(-2 i theta)`` of each trial axis ``theta`` (East of North): the
        mirror image of the point ``z = x + i y`` across the axis is
        ``conj(z) * turn``.
    periodic : bool
        True when the axes are a whole even-sized grid over [0, 180): the
        perpendicular of axis ``k`` is then axis ``k + K/2`` (mod K), whose
        images are those of axis ``k`` reflected through the centre, and
        ``turn`` is only used for the first K/2 axes.
    chi2 : ndarray of float64
        Output, one per axis: the chi-square is *added* to it.
    v_centre : ndarray of float64
        Output, one per point: the data interpolated at the point's reflection
        through the centre (NaN outside the data).
    """
    cdef Py_ssize_t n = x.shape[0], nang = turn_re.shape[0], i, j, half = nang // 2
    cdef int start_axis = 0, start_perp = 0, start_row = 0, start_row_perp = 0
    cdef int start_centre = 0
    cdef double qx, qy, resid, model, err, vc
    cdef double *axis_buf
    cdef double *perp_buf
    if y.shape[0] != n or v.shape[0] != n or v_centre.shape[0] != n:
        raise ValueError("x, y, v and v_centre differ in size")
    if dvel.shape[0] != n and dvel.shape[0] != 1:
        raise ValueError("dvel must have one value per point or a single value")
    if turn_im.shape[0] != nang or chi2.shape[0] != nang:
        raise ValueError("turn_re, turn_im and chi2 differ in size")
    if periodic and nang % 2:
        raise ValueError("a periodic grid needs an even number of axes")
    if nang == 0 or n == 0:
        return
    axis_buf = <double *>malloc(nang * sizeof(double))
    perp_buf = <double *>malloc(nang * sizeof(double))
    if axis_buf == NULL or perp_buf == NULL:
        free(axis_buf)
        free(perp_buf)
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                vc = tri._value(-x[i], -y[i], &start_centre)
                v_centre[i] = vc
                err = dvel[i] if dvel.shape[0] == n else dvel[0]
                # Each image starts its walk from the triangle of the one before; the first
                # from the previous point's first (neighbouring points, neighbouring images).
                start_axis = start_row
                if periodic:
                    # The image across axis k + K/2 (the perpendicular of k) is that across
                    # k reflected through the centre: two independent walks, interleaved so
                    # that the processor overlaps them.
                    start_perp = start_row_perp
                    for j in range(half):
                        _mirror_image(x[i], y[i], turn_re[j], turn_im[j], &qx, &qy)
                        axis_buf[j] = tri._value(qx, qy, &start_axis)
                        axis_buf[j + half] = tri._value(-qx, -qy, &start_perp)
                        if j == 0:
                            start_row, start_row_perp = start_axis, start_perp
                else:
                    for j in range(nang):
                        _mirror_image(x[i], y[i], turn_re[j], turn_im[j], &qx, &qy)
                        axis_buf[j] = tri._value(qx, qy, &start_axis)
                        # Across the perpendicular axis: the image reflected through the centre.
                        perp_buf[j] = tri._value(-qx, -qy, &start_perp)
                        if j == 0:
                            start_row = start_axis
                for j in range(nang):
                    if periodic:
                        model = _model(v[i], axis_buf[j], axis_buf[(j + half) % nang], vc)
                    else:
                        model = _model(v[i], axis_buf[j], perp_buf[j], vc)
                    resid = (v[i] - model) / err
                    chi2[j] += resid * resid
    finally:
        free(axis_buf)
        free(perp_buf)


def model_at(Triangulation tri, double[::1] x, double[::1] y, double[::1] v, double turn_re,
             double turn_im, double[::1] v_centre, double[::1] out):
    """The point-symmetric model about one axis (``turn`` as in `chi2_scan`)."""
    cdef Py_ssize_t n = x.shape[0], i
    cdef int start_axis = 0, start_perp = 0
    cdef double qx, qy
    if y.shape[0] != n or v.shape[0] != n or v_centre.shape[0] != n or out.shape[0] != n:
        raise ValueError("x, y, v, v_centre and out differ in size")
    with nogil:
        for i in range(n):
            _mirror_image(x[i], y[i], turn_re, turn_im, &qx, &qy)
            out[i] = _model(v[i], tri._value(qx, qy, &start_axis),
                            tri._value(-qx, -qy, &start_perp), v_centre[i])
