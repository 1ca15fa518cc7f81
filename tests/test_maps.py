"""Tests of read_maps on the real DR15-era file and on broken files."""

import gzip
import io
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

from kinmisalign import MapsFormatError, VelocityField, read_maps
from kinmisalign.maps import channel_names


@pytest.fixture(scope="module")
def real(real_maps_path):
    return read_maps(real_maps_path)


def _rewrite(src, dst, edit):
    """Copy a MAPS file through ``edit(hdul)`` (which may return a new HDUList)."""
    with fits.open(src) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    hdul = edit(hdul) or hdul
    hdul.writeto(dst)
    return dst


class TestRealFile:
    def test_metadata(self, real):
        assert real.plateifu == "7815-3702"
        assert real.meta["MANGAID"] == "1-113540"
        assert real.meta["DAPTYPE"] == "HYB10-GAU-MILESHC"
        assert real.meta["VERSDRP3"] == "v2_4_3"
        assert real.meta["VERSDAP"] == "2.2.3dev"
        assert real.meta["ECOOPA"] == pytest.approx(163.245)

    def test_counts_and_units(self, real):
        # Numbers from the data README: 773 stellar, 769 H-alpha unmasked spaxels.
        assert real.stellar.n_good == 773
        assert real.gas.n_good == 769
        assert real.stellar.shape == real.gas.shape == (42, 42)
        assert real.stellar.velocity.unit == u.km / u.s
        assert real.gas.ivar.unit == u.s**2 / u.km**2
        assert real.stellar.x.unit == u.arcsec
        # 497 Voronoi bins in the stellar continua (BINID -1 outside).
        assert len(np.unique(real.stellar.binid[real.stellar.binid >= 0])) == 497

    def test_halpha_channel_is_c19(self, real_maps_path, real):
        with fits.open(real_maps_path) as hdul:
            assert channel_names(hdul["EMLINE_GVEL"].header)[18] == "Ha-6564"
            expected = hdul["EMLINE_GVEL"].data[18]
        np.testing.assert_array_equal(real.gas.velocity.value, expected)

    def test_orientation(self, real):
        # Column index grows toward West (x decreases), row index toward North.
        x, y = real.stellar.x.value, real.stellar.y.value
        assert np.all(np.diff(x, axis=1) < 0)
        assert np.all(np.diff(y, axis=0) > 0)
        # The spaxel nearest (0, 0) is the array centre, within 0.02 arcsec.
        r = np.hypot(x, y)
        assert r.min() < 0.02
        assert np.unravel_index(np.argmin(r), r.shape) == (21, 21)

    def test_masked_values_kept(self, real):
        # The DAP stores 0 outside the footprint; the network input needs those values.
        bad = ~real.stellar.good
        assert bad.sum() == 42 * 42 - 773
        assert np.all(real.stellar.velocity.value[bad] == 0)
        assert np.abs(real.gas.velocity.value[real.gas.good]).max() < 200

    def test_donotuse_only(self, real_maps_path):
        maps = read_maps(real_maps_path, maskbits="donotuse")
        # Every masked spaxel of this file has DONOTUSE set, so the counts agree.
        assert maps.stellar.n_good == 773
        lenient = read_maps(real_maps_path, maskbits=1 << 4)  # NOVALUE only
        assert lenient.stellar.n_good > 773

    def test_other_line(self, real_maps_path):
        maps = read_maps(real_maps_path, line="OIII-5008")
        assert maps.gas.meta["channel"] == "OIII-5008"
        assert maps.meta["LINE"] == "OIII-5008"

    def test_hdulist_input(self, real_maps_path, real):
        with fits.open(real_maps_path) as hdul:
            maps = read_maps(hdul)
        np.testing.assert_array_equal(maps.stellar.velocity, real.stellar.velocity)

    def test_uncompressed(self, real_maps_path, tmp_path, real):
        dst = tmp_path / "maps.fits"
        with gzip.open(real_maps_path) as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        maps = read_maps(dst)
        np.testing.assert_array_equal(maps.gas.velocity, real.gas.velocity)


class TestBrokenFiles:
    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="not found"):
            read_maps(tmp_path / "nope.fits.gz")

    def test_directory(self, tmp_path):
        with pytest.raises(MapsFormatError, match="directory"):
            read_maps(tmp_path)

    def test_empty(self, tmp_path):
        path = tmp_path / "empty.fits.gz"
        path.write_bytes(b"")
        with pytest.raises(MapsFormatError, match="empty"):
            read_maps(path)

    def test_not_fits(self, tmp_path):
        path = tmp_path / "text.fits"
        path.write_text("SIMPLE? no, this is a shopping list\n" * 100)
        with pytest.raises(MapsFormatError, match="not a readable FITS"):
            read_maps(path)

    def test_not_gzip(self, tmp_path):
        path = tmp_path / "junk.fits.gz"
        path.write_bytes(b"\x1f\x8b\x08" + bytes(range(256)) * 20)
        with pytest.raises(MapsFormatError, match="gzip|FITS"):
            read_maps(path)

    def test_truncated_gzip(self, real_maps_path, tmp_path):
        data = real_maps_path.read_bytes()
        path = tmp_path / "truncated.fits.gz"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(MapsFormatError, match="truncated|corrupt"):
            read_maps(path)

    def test_missing_extension(self, real_maps_path, tmp_path):
        def drop(hdul):
            del hdul["STELLAR_VEL"]

        path = _rewrite(real_maps_path, tmp_path / "m.fits", drop)
        with pytest.raises(MapsFormatError, match="missing extension STELLAR_VEL"):
            read_maps(path)

    def test_missing_companion(self, real_maps_path, tmp_path):
        def drop(hdul):
            del hdul["EMLINE_GVEL_MASK"]

        path = _rewrite(real_maps_path, tmp_path / "m.fits", drop)
        with pytest.raises(MapsFormatError, match="EMLINE_GVEL_MASK"):
            read_maps(path)

    def test_no_halpha_channel(self, real_maps_path, tmp_path):
        def rename(hdul):
            hdul["EMLINE_GVEL"].header["C19"] = "Xx-6564"

        path = _rewrite(real_maps_path, tmp_path / "m.fits", rename)
        with pytest.raises(MapsFormatError, match="no channel named 'Ha-6564'.*NII-6585"):
            read_maps(path)

    def test_wrong_shape(self, real_maps_path, tmp_path):
        def crop(hdul):
            hdul["STELLAR_VEL"].data = hdul["STELLAR_VEL"].data[:40, :40]

        path = _rewrite(real_maps_path, tmp_path / "m.fits", crop)
        with pytest.raises(MapsFormatError, match=r"STELLAR_VEL has map shape \(40, 40\)"):
            read_maps(path)

    def test_wrong_unit(self, real_maps_path, tmp_path):
        def unit(hdul):
            hdul["STELLAR_VEL"].header["BUNIT"] = "erg/s"

        path = _rewrite(real_maps_path, tmp_path / "m.fits", unit)
        with pytest.raises(MapsFormatError, match="not a velocity"):
            read_maps(path)

    def test_bad_skycoo(self, real_maps_path, tmp_path):
        def flat(hdul):
            hdul["SPX_SKYCOO"].data = hdul["SPX_SKYCOO"].data[0]

        path = _rewrite(real_maps_path, tmp_path / "m.fits", flat)
        with pytest.raises(MapsFormatError, match="SPX_SKYCOO must be a 2-channel map"):
            read_maps(path)


class TestFromArray:
    def test_orientation_and_centre(self):
        v = np.arange(20.0).reshape(4, 5) * u.km / u.s
        field = VelocityField.from_array(v, pixscale=0.5 * u.arcsec)
        # East at column 0: x decreases with column; centre at the array centre.
        assert field.x[0, 0] == 1.0 * u.arcsec
        assert field.x[0, -1] == -1.0 * u.arcsec
        assert field.y[0, 0] == -0.75 * u.arcsec
        assert field.y[-1, 0] == 0.75 * u.arcsec
        assert field.is_map and field.n_good == 20

    def test_masks(self):
        v = np.ones((3, 3)) * u.km / u.s
        v[0, 0] = np.nan
        mask = np.zeros((3, 3), bool)
        mask[1, 1] = True
        field = VelocityField.from_array(v, mask=mask)
        assert field.n_good == 7
        assert not field.good[0, 0] and not field.good[1, 1]

    def test_needs_units(self):
        with pytest.raises(TypeError, match="velocity must be an astropy Quantity"):
            VelocityField.from_array(np.ones((3, 3)))
        with pytest.raises(u.UnitConversionError, match="velocity units"):
            VelocityField.from_array(np.ones((3, 3)) * u.m)

    def test_needs_2d(self):
        with pytest.raises(ValueError, match="2-D map"):
            VelocityField.from_array(np.ones(5) * u.km / u.s)

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="mask has shape"):
            VelocityField.from_array(np.ones((3, 3)) * u.km / u.s, mask=np.zeros((2, 3), int))
        with pytest.raises(ValueError, match="ivar has shape"):
            VelocityField.from_array(np.ones((3, 3)) * u.km / u.s,
                                     ivar=np.ones((3, 2)) * u.s**2 / u.km**2)

    def test_wrong_dtype(self):
        with pytest.raises(TypeError, match="mask must be numeric"):
            VelocityField.from_array(np.ones((2, 2)) * u.km / u.s, mask=np.array([["a", "b"]] * 2))

    def test_bad_pixscale(self):
        with pytest.raises(ValueError, match="pixscale"):
            VelocityField.from_array(np.ones((2, 2)) * u.km / u.s, pixscale=-1 * u.arcsec)

    def test_from_points(self):
        x = np.array([0.0, 1.0, 2.0]) * u.arcsec
        field = VelocityField.from_points(x, x, [1, 2, 3] * u.km / u.s)
        assert not field.is_map
        with pytest.raises(ValueError, match="1-D"):
            VelocityField.from_points(x[:, None], x, [1, 2, 3] * u.km / u.s)

    def test_bad_maskbits(self):
        with pytest.raises(ValueError, match="maskbits"):
            VelocityField.from_array(np.ones((2, 2)) * u.km / u.s, maskbits="sometimes")


class TestMockFiles:
    """The reader against the independent mock writer, in both data-model layouts."""

    @pytest.mark.parametrize("layout, key", [("DR17", "C24"), ("DR15", "C19")])
    def test_layouts(self, tmp_path, layout, key):
        from kinmisalign import mock
        from kinmisalign._datamodel import LAYOUTS

        galaxy = mock.MockGalaxy(plateifu="8000-3702", mangaid="1-42")
        arrays = mock.make_maps_arrays(galaxy, seed=3)
        path = mock.write_maps(galaxy, tmp_path, layout=layout, seed=3)
        with fits.open(path) as hdul:
            assert hdul["EMLINE_GVEL"].header[key].strip() == "Ha-6564"
        maps = read_maps(path)
        assert maps.plateifu == "8000-3702" and maps.meta["MANGAID"] == "1-42"
        assert maps.meta["DAPTYPE"] == LAYOUTS[layout]["daptype"]
        np.testing.assert_array_equal(maps.stellar.velocity.value,
                                      arrays.stellar_vel.astype(np.float32))
        np.testing.assert_array_equal(maps.gas.velocity.value, arrays.gas_vel.astype(np.float32))
        np.testing.assert_array_equal(maps.gas.mask, arrays.gas_mask)
        np.testing.assert_allclose(maps.stellar.x.value, arrays.x, atol=1e-6)
        np.testing.assert_allclose(maps.stellar.y.value, arrays.y, atol=1e-6)
        # Usable spaxels: measured, in the footprint, no mask bit set.
        assert maps.gas.n_good == np.count_nonzero(arrays.gas_mask == 0)
        assert maps.stellar.n_good == np.count_nonzero(arrays.stellar_mask == 0)

    def test_survey_tree(self, tmp_path):
        from kinmisalign import mock

        galaxy = mock.MockGalaxy(plateifu="8000-12701", mangaid="1-43")
        path = mock.write_maps(galaxy, tmp_path, tree=True)
        assert path.relative_to(tmp_path).parts[1:3] == ("8000", "12701")
        maps = read_maps(path)
        assert maps.stellar.shape == galaxy.shape

    def test_absent_gas(self, tmp_path):
        from kinmisalign import mock

        galaxy = mock.MockGalaxy(plateifu="8000-1901", gas=mock.FieldModel(kind="absent"))
        maps = read_maps(mock.write_maps(galaxy, tmp_path))
        assert maps.gas.n_good == 0
        assert maps.stellar.n_good > 100


# -- reading only the needed extensions ----------------------------------------------------------

def _same_maps(a, b):
    """Equal MapsData: values, dtypes, units, writeable arrays, masks, bins, meta, header."""
    for name in ("stellar", "gas"):
        fa, fb = getattr(a, name), getattr(b, name)
        for attr in ("x", "y", "velocity", "ivar", "mask", "binid", "good"):
            va, vb = getattr(fa, attr), getattr(fb, attr)
            assert type(va) is type(vb), (name, attr)
            if va is None:
                continue
            assert va.dtype == vb.dtype and va.dtype.isnative, (name, attr)
            assert va.flags.writeable == vb.flags.writeable, (name, attr)
            assert getattr(va, "unit", None) == getattr(vb, "unit", None), (name, attr)
            assert np.array_equal(np.asarray(va), np.asarray(vb), equal_nan=True), (name, attr)
        assert (fa.maskbits, fa.name, fa.meta) == (fb.maskbits, fb.name, fb.meta)
    assert a.meta == b.meta
    assert type(a.header) is type(b.header) is fits.Header
    assert a.header == b.header and list(a.header.items()) == list(b.header.items())


def _fast_path_only(monkeypatch):
    """Make astropy's fits.open and the gzip module fail: what still reads is a single zlib
    pass and images taken straight from the bytes."""
    def refuse(*args, **kwargs):
        raise AssertionError("fits.open called")

    class Refused(gzip.GzipFile):
        def __init__(self, *args, **kwargs):
            raise AssertionError("gzip module used")

    monkeypatch.setattr(fits, "open", refuse)
    monkeypatch.setattr(gzip, "GzipFile", Refused)


@pytest.mark.parametrize("layout", ["DR15", "DR17"])
def test_needed_extensions_read_as_from_the_whole_file(tmp_path, layout):
    from kinmisalign.maps import _needed_hdus, _scan_hdus
    from kinmisalign.mock import MockGalaxy, write_maps

    path = write_maps(MockGalaxy(plateifu="8000-6101"), tmp_path, layout=layout)
    raw = gzip.open(path).read()
    hdus = _scan_hdus(raw)
    with fits.open(path) as hdul:
        # The scan finds every HDU, with astropy's names and boundaries.
        assert [str(c.get("EXTNAME") or "PRIMARY") for *_, c in hdus] == [h.name for h in hdul]
        assert hdus[-1][2] == len(raw)
        assert [(start, data) for start, data, *_ in hdus] == [
            (h._header_offset, h._data_offset) for h in hdul]
        whole = read_maps(hdul)
    subset = _needed_hdus(raw, hdus)
    with fits.open(io.BytesIO(subset)) as hdul:
        assert [h.name for h in hdul] == [
            "PRIMARY", "SPX_SKYCOO", "BINID", "STELLAR_VEL", "STELLAR_VEL_IVAR",
            "STELLAR_VEL_MASK", "EMLINE_GVEL", "EMLINE_GVEL_IVAR", "EMLINE_GVEL_MASK"]
    _same_maps(read_maps(path), whole)


def test_needed_extensions_of_the_real_file(real_maps_path, monkeypatch):
    with fits.open(real_maps_path) as hdul:
        whole = read_maps(hdul)
    _fast_path_only(monkeypatch)
    _same_maps(read_maps(real_maps_path), whole)


@pytest.mark.parametrize("layout", ["DR15", "DR17"])
def test_plain_images_read_without_astropy_hdus(tmp_path, layout, monkeypatch):
    from kinmisalign.mock import MockGalaxy, write_maps

    path = write_maps(MockGalaxy(plateifu="8000-6102", binning="HYB10"), tmp_path,
                      layout=layout)
    with fits.open(path) as hdul:
        whole = read_maps(hdul)
        other = read_maps(hdul, line="NII-6585", maskbits="donotuse")
    _fast_path_only(monkeypatch)
    _same_maps(read_maps(path), whole)
    _same_maps(read_maps(path, line="NII-6585", maskbits="donotuse"), other)


@pytest.mark.parametrize("layout", ["DR15", "DR17", "real"])
def test_every_hdu_as_astropy_reads_it(tmp_path, layout, request):
    # Header, data (values, dtype, shape) and name of each HDU, by index and by name.
    from kinmisalign.maps import _decompress, _Images, _scan_hdus
    from kinmisalign.mock import MockGalaxy, write_maps

    if layout == "real":
        path = request.getfixturevalue("real_maps_path")
    else:
        path = write_maps(MockGalaxy(plateifu="8000-6103"), tmp_path, layout=layout)
    content = _decompress(path)
    images = _Images(content, _scan_hdus(content))
    with fits.open(path) as hdul:
        for index, hdu in enumerate(hdul):
            for image in (images[index], images[hdu.name]):
                assert image.name == hdu.name
                assert image.header == hdu.header
                if hdu.data is None:
                    assert image.data is None
                else:
                    assert image.data.dtype == hdu.data.dtype
                    assert np.array_equal(image.data, hdu.data, equal_nan=True)
        assert images["primary"] is images[0] and "spx_skycoo " in images
        assert "NOT_THERE" not in images
        with pytest.raises(KeyError):
            images["NOT_THERE"]


@pytest.mark.parametrize("scaled", ["STELLAR_VEL", "STELLAR_VEL_MASK", "EMLINE_GVEL_IVAR"])
def test_scaled_extension_read_by_astropy(tmp_path, scaled):
    # BSCALE/BZERO in a needed extension: not a raw image, so astropy reads the file.
    from kinmisalign.maps import _decompress, _Images, _NotPlain, _scan_hdus
    from kinmisalign.mock import MockGalaxy, write_maps

    src = write_maps(MockGalaxy(plateifu="8000-6104"), tmp_path / "src")
    dst = tmp_path / "scaled.fits.gz"

    def edit(hdul):
        hdu = hdul[scaled]
        if hdu.data.dtype.kind == "f":
            hdu.scale("int32", bscale=1e-3, bzero=5.0)
        else:  # unsigned masks: astropy writes them with BZERO
            hdu.data = hdu.data.astype(np.uint32)

    _rewrite(src, dst, edit)
    content = _decompress(dst)
    with pytest.raises(_NotPlain):
        _Images(content, _scan_hdus(content))[scaled]
    with fits.open(dst) as hdul:
        assert "BZERO" in hdul[scaled].header
        whole = read_maps(hdul)
    _same_maps(read_maps(dst), whole)


def test_companions_named_by_header_keys(tmp_path):
    # QUALDATA/ERRDATA may name any extension: the subset follows them.
    from kinmisalign.mock import MockGalaxy, write_maps

    src = write_maps(MockGalaxy(plateifu="8000-3701"), tmp_path / "src")
    dst = tmp_path / "renamed.fits.gz"

    def edit(hdul):
        hdul["STELLAR_VEL_MASK"].name = "STARMASK"
        hdul["STELLAR_VEL"].header["QUALDATA"] = "STARMASK"

    _rewrite(src, dst, edit)
    with fits.open(src) as hdul:
        expected = hdul["STELLAR_VEL_MASK"].data.copy()
    maps = read_maps(dst)
    assert np.array_equal(maps.stellar.mask, expected)


def test_unscannable_file_is_read_whole():
    from kinmisalign.maps import _scan_hdus

    # No END card: the scan gives up and astropy gets the file as it is.
    blob = b"SIMPLE  =                    T" + b" " * 2850
    assert _scan_hdus(blob) is None


# -- decompression -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mock_raw(tmp_path_factory):
    """A DR17 mock MAPS file: its path, its FITS bytes, and read_maps of it."""
    from kinmisalign.mock import MockGalaxy, write_maps

    path = write_maps(MockGalaxy(plateifu="8000-3703"), tmp_path_factory.mktemp("gz"))
    return path, gzip.decompress(path.read_bytes()), read_maps(path)


def test_content_slices_across_pieces():
    from kinmisalign.maps import _Content

    data = bytes(range(256)) * 40
    content = _Content(data[:2880], data[2880:], b"")
    assert len(content) == len(data) and content.tobytes() == data
    for start, stop in [(0, 10), (2870, 2890), (2880, 5000), (5000, len(data) + 9), (7, 7)]:
        assert bytes(content[start:stop]) == data[start:stop]
    assert isinstance(content[3000:4000], memoryview)  # within one piece: not copied


@pytest.mark.parametrize("split", [1, 2880, 100_000])
def test_multi_member_gzip(mock_raw, tmp_path, split):
    path, raw, maps = mock_raw
    multi = tmp_path / "multi.fits.gz"
    multi.write_bytes(gzip.compress(raw[:split]) + gzip.compress(raw[split:]))
    _same_maps(read_maps(multi), maps)


def test_gzip_padded_with_zeros(mock_raw, tmp_path):
    path, raw, maps = mock_raw
    padded = tmp_path / "padded.fits.gz"
    padded.write_bytes(path.read_bytes() + bytes(100))
    _same_maps(read_maps(padded), maps)


@pytest.mark.parametrize("damage", ["crc", "length", "trailing-junk", "no-trailer", "cut-early"])
def test_damaged_gzip_stream(mock_raw, tmp_path, damage):
    # zlib checks the trailer of the whole stream: damage anywhere is an error.
    path, raw, maps = mock_raw
    data = bytearray(path.read_bytes())
    if damage == "crc":
        data[-8] ^= 1
    elif damage == "length":
        data[-4] ^= 1
    elif damage == "trailing-junk":
        data += b"junk"
    elif damage == "no-trailer":
        del data[-8:]
    else:
        del data[len(data) // 10:]
    bad = tmp_path / "bad.fits.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(MapsFormatError, match="truncated or corrupt gzip"):
        read_maps(bad)

