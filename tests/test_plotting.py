"""Tests of the QA figure and the misalignment histogram."""

from types import SimpleNamespace

import numpy as np
import pytest
from astropy import units as u

pytest.importorskip("matplotlib")

from kinmisalign import VelocityField  # noqa: E402
from kinmisalign.plotting import plot_misalignment_histogram, plot_velocity_fields  # noqa: E402


def disc_map(pa_deg, *, n=36, vmax=200.0, inc_deg=60.0, vsys=0.0, radius=7.0):
    """An analytic rotating disc in the DAP orientation, receding side at ``pa_deg``."""
    rows, cols = np.mgrid[0:n, 0:n]
    x = -(cols - (n - 1) / 2) * 0.5  # East is at column 0
    y = (rows - (n - 1) / 2) * 0.5
    pa, inc = np.deg2rad(pa_deg), np.deg2rad(inc_deg)
    along = x * np.sin(pa) + y * np.cos(pa)
    across = -x * np.cos(pa) + y * np.sin(pa)
    r = np.hypot(along, across / np.cos(inc))
    cos_phi = np.divide(along, r, out=np.zeros_like(r), where=r > 0)
    v = vsys + vmax * np.tanh(r / 3.0) * cos_phi * np.sin(inc)
    return VelocityField.from_array(v * u.km / u.s, mask=np.hypot(x, y) > radius)


def stand_in_fit(pa, err=1.0, vsys=0.0):
    """Something with the PAFit attributes the figure reads."""
    return SimpleNamespace(pa=pa * u.deg, pa_err=err * u.deg, vsys=vsys * u.km / u.s)


def suptitle(fig):
    # Figure.get_suptitle is new in matplotlib 3.8; the oldest supported is 3.7.
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


def panel(fig, label):
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    return ax


def line_by_gid(ax, gid):
    (line,) = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    return line


def test_figure_panels_titles_and_colourbars():
    fig = plot_velocity_fields(disc_map(163.5), disc_map(30.0, vmax=150),
                               stand_in_fit(163.5, 1.2), stand_in_fit(30.0, 2.5),
                               title="7815-3702")
    stellar, gas = panel(fig, "stellar"), panel(fig, "gas")
    assert stellar.get_title() == "Stellar: PA = 163.5 ± 1.2°"
    assert gas.get_title() == "Gas: PA = 30.0 ± 2.5°"
    assert "7815-3702" in suptitle(fig)
    assert "ΔPA = 133.5 ± 2.8°" in suptitle(fig)
    assert "ΔRA" in stellar.get_xlabel() and "ΔDec" in stellar.get_ylabel()
    # two sky panels and two colour bars, in km/s
    assert len(fig.axes) == 4
    cbar_labels = [a.get_ylabel() for a in fig.axes if a not in (stellar, gas)]
    assert all("km/s" in lab for lab in cbar_labels)


def test_usability_in_panel_titles():
    fig = plot_velocity_fields(disc_map(163.5), disc_map(30.0), stand_in_fit(163.5, 1.2),
                               None, usability=(0.9984, np.nan), threshold=0.5)
    assert panel(fig, "stellar").get_title() == ("Stellar: PA = 163.5 ± 1.2°\n"
                                                 "p(usable) = 0.998: usable")
    assert panel(fig, "gas").get_title() == "Gas\nusability: not classified"
    fig = plot_velocity_fields(disc_map(10.0), None, usability=(0.7, 0.2), threshold=0.8)
    assert panel(fig, "stellar").get_title().endswith("p(usable) = 0.700: UNUSABLE")
    assert panel(fig, "gas").get_title().endswith("p(usable) = 0.200: UNUSABLE")
    with pytest.raises(ValueError, match="two probabilities"):
        plot_velocity_fields(disc_map(10.0), usability=(0.5,))


def test_east_is_drawn_on_the_left():
    fig = plot_velocity_fields(disc_map(90.0))
    left, right = panel(fig, "stellar").get_xlim()
    assert left > 0 > right
    bottom, top = panel(fig, "stellar").get_ylim()
    assert bottom < 0 < top


@pytest.mark.parametrize("pa", [0.0, 90.0, 163.5, 270.0])
def test_major_axis_points_to_the_receding_side(pa):
    fig = plot_velocity_fields(disc_map(pa), stellar_fit=stand_in_fit(pa))
    ax = panel(fig, "stellar")
    xdata, ydata = line_by_gid(ax, "major-axis").get_data()
    # the last point is the receding end, along (sin PA, cos PA) East of North
    angle = np.rad2deg(np.arctan2(xdata[-1], ydata[-1])) % 360
    assert angle == pytest.approx(pa, abs=1e-9)
    assert xdata[0] == pytest.approx(-xdata[-1]) and ydata[0] == pytest.approx(-ydata[-1])
    # the minor axis is perpendicular and dashed
    minor = line_by_gid(ax, "minor-axis")
    mx, my = minor.get_data()
    assert np.dot([mx[-1], my[-1]], [xdata[-1], ydata[-1]]) == pytest.approx(0, abs=1e-9)
    assert minor.get_linestyle() == "--"
    assert line_by_gid(ax, "major-axis").get_linestyle() == "-"
    # the arrow head sits on the receding end
    (arrow,) = [t for t in ax.texts if t.get_gid() == "receding-arrow"]
    assert arrow.xy == pytest.approx((xdata[-1], ydata[-1]))


def test_pa_90_receding_end_is_east_and_drawn_left():
    fig = plot_velocity_fields(disc_map(90.0), stellar_fit=stand_in_fit(90.0))
    ax = panel(fig, "stellar")
    xdata, ydata = line_by_gid(ax, "major-axis").get_data()
    assert xdata[-1] > 0 and ydata[-1] == pytest.approx(0, abs=1e-9)
    # in display coordinates the receding end is left of the centre
    end = ax.transData.transform((xdata[-1], ydata[-1]))
    centre = ax.transData.transform((0.0, 0.0))
    assert end[0] < centre[0]


def test_map_keeps_its_orientation():
    # receding (positive) velocities East of the centre must be drawn at +x
    field = disc_map(90.0)
    fig = plot_velocity_fields(field)
    mesh = panel(fig, "stellar").collections[0]
    values = np.ma.masked_invalid(mesh.get_array()).reshape(field.shape)
    coords = mesh.get_coordinates()  # cell corners, shape (ny+1, nx+1, 2)
    xc = 0.5 * (coords[:-1, :-1, 0] + coords[1:, 1:, 0])
    assert np.ma.mean(values[xc > 2]) > 50
    assert np.ma.mean(values[xc < -2]) < -50


def test_point_list_and_colour_scale_centred_on_vsys():
    field = disc_map(45.0, vsys=1000.0).rotated(0 * u.deg)
    assert not field.is_map
    fig = plot_velocity_fields(field, stellar_fit=stand_in_fit(45.0, vsys=1000.0),
                               vlim=150 * u.km / u.s)
    (points,) = panel(fig, "stellar").collections
    assert points.get_offsets().shape == (field.n_good, 2)
    assert points.norm.vmin == pytest.approx(850)
    assert points.norm.vmax == pytest.approx(1150)


def test_default_centre_is_the_median_velocity():
    field = disc_map(45.0, vsys=500.0)
    fig = plot_velocity_fields(field)
    norm = panel(fig, "stellar").collections[0].norm
    assert 0.5 * (norm.vmin + norm.vmax) == pytest.approx(np.median(field.points()[2].value))
    assert panel(fig, "stellar").get_title() == "Stellar"
    assert suptitle(fig) == ""


@pytest.mark.parametrize("gas", [None, "empty"])
def test_missing_gas_gives_an_empty_panel(gas):
    stellar = disc_map(120.0)
    if gas == "empty":
        gas = stellar.replace(good=np.zeros(stellar.shape, dtype=bool))
    fig = plot_velocity_fields(stellar, gas, stand_in_fit(120.0), None)
    ax = panel(fig, "gas")
    assert not ax.collections and not ax.get_lines()
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "no gas velocity field" in texts or "no usable gas spaxels" in texts
    assert "ΔPA" not in suptitle(fig)
    assert len(fig.axes) == 3  # two panels, one colour bar


def test_unmeasured_pa_is_said_and_not_drawn():
    fit = SimpleNamespace(pa=np.nan * u.deg, pa_err=np.nan * u.deg)
    fig = plot_velocity_fields(disc_map(10.0), disc_map(20.0), fit, stand_in_fit(20.0))
    assert panel(fig, "stellar").get_title() == "Stellar: PA not measured"
    assert "ΔPA not measured" in suptitle(fig)
    assert not [ln for ln in panel(fig, "stellar").get_lines() if ln.get_gid() == "major-axis"]


def test_misalignment_wraps_around():
    fig = plot_velocity_fields(disc_map(350.0), disc_map(10.0), stand_in_fit(350.0, 3.0),
                               stand_in_fit(10.0, 4.0))
    assert "ΔPA = 20.0 ± 5.0°" in suptitle(fig)


def test_draws_into_a_given_figure_and_saves(tmp_path):
    from matplotlib.figure import Figure

    given = Figure()
    given.subplots()  # content that must be replaced
    fig = plot_velocity_fields(disc_map(163.5), disc_map(30.0), stand_in_fit(163.5, 1.2),
                               stand_in_fit(30.0, 2.5), figure=given)
    assert fig is given
    assert len(fig.axes) == 4
    path = tmp_path / "qa.png"
    fig.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_histogram():
    rng = np.random.default_rng(0)
    dpa = np.concatenate([np.abs(rng.normal(0, 10, 200)).clip(0, 29), [45.0, 100.0, 175.0]])
    ax = plot_misalignment_histogram(np.append(dpa, np.nan) * u.deg)
    (patch,) = ax.patches  # one step-filled histogram
    assert ax.get_xlim() == (0, 180)
    assert ax.get_xlabel() == "ΔPA / deg"
    edges = sorted(ln.get_xdata()[0] for ln in ax.get_lines())
    assert edges == [30, 150]
    texts = [t.get_text() for t in ax.texts]
    assert "aligned" in texts and "misaligned" in texts
    assert ax.figure is not None


def test_histogram_on_given_axes_and_counts():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    out = plot_misalignment_histogram(np.ma.masked_array([5.0, 15.0, 95.0, 170.0],
                                                         mask=[0, 0, 0, 1]),
                                      ax=ax, bins=[0, 30, 150, 180], histtype="bar")
    assert out is ax
    heights = [p.get_height() for p in ax.patches]
    assert heights == [2, 1, 0]


def test_histogram_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 180\]"):
        plot_misalignment_histogram([10.0, 200.0])


def test_with_real_fits():
    from kinmisalign.cleaning import clean_velocity_field
    from kinmisalign.pa import fit_pa, misalignment

    stellar = clean_velocity_field(disc_map(163.5, n=24, radius=5))
    gas = clean_velocity_field(disc_map(30.0, n=24, radius=5, vmax=150))
    stellar_fit, gas_fit = fit_pa(stellar), fit_pa(gas)
    assert stellar_fit.pa.to_value(u.deg) == pytest.approx(163.5, abs=1)
    fig = plot_velocity_fields(stellar, gas, stellar_fit, gas_fit)

    pa = stellar_fit.pa.to_value(u.deg)
    ax = panel(fig, "stellar")
    assert ax.get_title() == f"Stellar: PA = {pa:.1f} ± {stellar_fit.pa_err.to_value(u.deg):.1f}°"
    xdata, ydata = line_by_gid(ax, "major-axis").get_data()
    assert np.rad2deg(np.arctan2(xdata[-1], ydata[-1])) % 360 == pytest.approx(pa)
    dpa, dpa_err = misalignment(stellar_fit, gas_fit)
    assert f"ΔPA = {dpa.to_value(u.deg):.1f} ± {dpa_err.to_value(u.deg):.1f}°" in suptitle(fig)
