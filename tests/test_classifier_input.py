"""Network input (SPEC §6): the cubic resize against OpenCV, normalisation, batches."""

import numpy as np
import pytest
from astropy import units as u

from kinmisalign import mock, read_maps
from kinmisalign._core.resize import cubic_kernel, cubic_resize_matrix, resize_cubic
from kinmisalign.classifier import NotClassifiableError, prepare_input
from kinmisalign.fields import MapsData, VelocityField

KMS = u.km / u.s


def cv2_input(field):
    """SPEC §6 done with OpenCV itself, as the original pipeline did."""
    cv2 = pytest.importorskip("cv2")
    v = field.velocity.to_value(KMS)
    scaled = v / np.abs(v[field.good]).max()
    return cv2.resize(scaled, (32, 32), interpolation=cv2.INTER_CUBIC)


def mock_fields(n=10, seed=3):
    rng = np.random.default_rng(seed)
    fields = []
    for size in (19, 37, 61, 91, 127) * (n // 5):
        arrays = mock.make_maps_arrays(mock.random_galaxy(rng, bundle_size=size))
        fields.append(VelocityField.from_array(arrays.stellar_vel * KMS, mask=arrays.stellar_mask,
                                               name="stellar"))
        fields.append(VelocityField.from_array(arrays.gas_vel * KMS, mask=arrays.gas_mask,
                                               name="gas"))
    return fields


def test_kernel_is_keys_with_a_075():
    # Interpolating: 1 at 0, 0 at the other integers; OpenCV's a = -0.75.
    assert cubic_kernel([0, 1, 2, 3]).tolist() == [1, 0, 0, 0]
    assert cubic_kernel(0.5) == pytest.approx(0.59375)
    assert cubic_kernel(1.5) == pytest.approx(-0.09375)


@pytest.mark.parametrize("n_in", [5, 32, 42, 74])
def test_resize_matrix_basics(n_in):
    w = cubic_resize_matrix(n_in, 32)
    assert w.shape == (32, n_in)
    assert np.allclose(w.sum(axis=1), 1)  # constants are kept
    if n_in == 32:
        assert np.array_equal(w, np.eye(32))
    with pytest.raises(ValueError):
        w[0, 0] = 1.0  # shared cached matrix is read-only


@pytest.mark.parametrize("shape", [(32, 32), (34, 34), (42, 42), (54, 54), (76, 76), (20, 20),
                                   (7, 7), (40, 60)])
def test_resize_matches_opencv_random(shape):
    cv2 = pytest.importorskip("cv2")
    image = np.random.default_rng(sum(shape)).normal(size=shape)
    expected = cv2.resize(image, (32, 32), interpolation=cv2.INTER_CUBIC)
    assert np.max(np.abs(resize_cubic(image, (32, 32)) - expected)) < 1e-12
    # OpenCV's float32 path rounds; still far inside the 1e-5 requirement.
    expected32 = cv2.resize(image.astype(np.float32), (32, 32), interpolation=cv2.INTER_CUBIC)
    assert np.max(np.abs(resize_cubic(image, (32, 32)) - expected32)) < 1e-5


def test_resize_stack_equals_one_by_one():
    stack = np.random.default_rng(0).normal(size=(3, 2, 44, 44))
    out = resize_cubic(stack, (32, 32))
    assert out.shape == (3, 2, 32, 32)
    assert np.allclose(out[2, 1], resize_cubic(stack[2, 1], (32, 32)), rtol=0, atol=1e-13)


def test_prepare_input_matches_opencv_on_mock_maps():
    fields = mock_fields()
    x = prepare_input(fields, errors="nan")  # some mock gas fields are wholly masked
    assert x.shape == (len(fields), 32, 32, 1) and x.dtype == np.float32
    ok = [i for i, f in enumerate(fields) if f.n_good]
    assert len(ok) >= 15
    worst = max(np.max(np.abs(x[i, :, :, 0] - cv2_input(fields[i]))) for i in ok)
    assert worst < 1e-5


def test_prepare_input_matches_opencv_on_real_maps(real_maps_path):
    maps = read_maps(real_maps_path)
    x = prepare_input(maps)  # stellar, then gas
    for sample, field in zip(x, (maps.stellar, maps.gas), strict=True):
        assert np.max(np.abs(sample[:, :, 0] - cv2_input(field))) < 1e-5


def test_normalised_by_unmasked_spaxels_only():
    v = np.zeros((40, 40))
    v[10:30, 10:30] = np.linspace(-100, 100, 20)[None, :]
    mask = np.zeros(v.shape, dtype=bool)
    v[5, 5], mask[5, 5] = 1000.0, True  # a masked spike keeps its value but sets no scale
    field = VelocityField.from_array(v * KMS, mask=mask)
    x = prepare_input(field)[0, :, :, 0]
    expected = resize_cubic(v / 100.0, (32, 32))
    assert np.allclose(x, expected, atol=1e-6)
    assert x.max() > 1.0  # the masked spike survives, as in the original pipeline


def test_unnormalisable_fields():
    empty = VelocityField.from_array(np.ones((30, 30)) * KMS, mask=np.ones((30, 30), bool),
                                     name="gas")
    zero = VelocityField.from_array(np.zeros((30, 30)) * KMS)
    fine = VelocityField.from_array(np.arange(900.0).reshape(30, 30) * KMS)
    with pytest.raises(NotClassifiableError, match="'gas'.*no unmasked spaxel"):
        prepare_input(empty)
    with pytest.raises(NotClassifiableError, match="zero"):
        prepare_input([fine, zero])
    x = prepare_input([empty, fine, zero], errors="nan")
    assert np.isnan(x[[0, 2]]).all() and np.isfinite(x[1]).all()


def test_nonfinite_masked_values_read_as_zero():
    v = np.full((30, 30), np.nan)
    v[10:20, 10:20] = 50.0
    field = VelocityField.from_array(v * KMS)
    zeros = VelocityField.from_array(np.nan_to_num(v) * KMS)
    assert np.array_equal(prepare_input(field), prepare_input(zeros))


def test_inputs_accepted_and_refused():
    a = VelocityField.from_array(np.arange(900.0).reshape(30, 30) * KMS, name="stellar")
    b = VelocityField.from_array(-np.arange(1600.0).reshape(40, 40) * KMS, name="gas")
    maps = MapsData(a, b)
    assert np.array_equal(prepare_input([maps, maps]), prepare_input([a, b, a, b]))
    assert np.array_equal(prepare_input([a, b])[1], prepare_input(b)[0])
    points = VelocityField.from_points(np.arange(3.0) * u.arcsec, np.zeros(3) * u.arcsec,
                                       np.arange(3.0) * KMS)
    with pytest.raises(TypeError, match="point list"):
        prepare_input(points)
    with pytest.raises(TypeError):
        prepare_input(np.zeros((30, 30)))
    with pytest.raises(ValueError, match="errors"):
        prepare_input(a, errors="ignore")
