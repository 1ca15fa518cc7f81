"""Tests of the kinmisalign command line."""

import re
import subprocess
import sys

import numpy as np
import pytest

import kinmisalign
from kinmisalign.cli import main


def test_fit_real_file(real_maps_path, tmp_path, capsys):
    png = tmp_path / "qa.png"
    assert main(["fit", str(real_maps_path), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "7815-3702" in out
    stellar = float(re.search(r"PA_stellar\s+([\d.]+) ±", out).group(1))
    gas = float(re.search(r"PA_gas\s+([\d.]+) ±", out).group(1))
    dpa = float(re.search(r"DPA\s+([\d.]+) ±", out).group(1))
    assert abs(stellar - gas) < 15 and dpa < 30
    assert "aligned" in out
    assert png.stat().st_size > 10_000
    # both fields' usability, from the default network, and the line of the gas field
    assert re.search(r"USABLE_stellar\s+0\.9\d\d  usable", out)
    assert re.search(r"USABLE_gas\s+0\.9\d\d  usable", out)
    assert "gas line Ha-6564" in out


def test_fit_missing_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.fits.gz")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "not found" in err


def test_fit_not_fits(tmp_path, capsys):
    path = tmp_path / "x.fits"
    path.write_text("hello")
    assert main(["fit", str(path)]) == 1
    assert "not a readable FITS file" in capsys.readouterr().err


def test_no_command(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_entry_point_module():
    out = subprocess.run([sys.executable, "-m", "kinmisalign.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("kinmisalign ")


@pytest.mark.parametrize("bad", [["fit"], ["frobnicate"]])
def test_usage_errors(bad):
    with pytest.raises(SystemExit) as info:
        main(bad)
    assert info.value.code == 2


@pytest.fixture(scope="module")
def mini_survey(tmp_path_factory):
    """Two 19-fibre mock galaxies in the survey layout and a DAPall-like FITS catalogue."""
    from astropy.table import Table

    from kinmisalign import mock

    directory = tmp_path_factory.mktemp("cli-sas")
    for i, plateifu in enumerate(["8200-1901", "8200-1902"]):
        galaxy = mock.random_galaxy(np.random.default_rng(i), bundle_size=19,
                                    usable_stellar=True, usable_gas=True, plateifu=plateifu)
        mock.write_maps(galaxy, directory, tree=True, seed=i)
    catalogue = directory / "dapall.fits"
    Table({"PLATEIFU": ["8200-1901", "8200-1902", "8200-1903"], "Z": [0.02, 0.03, 0.04]}
          ).write(catalogue, format="fits")
    return directory, catalogue


@pytest.mark.parametrize("suffix", [".ecsv", ".fits", ".csv"])
def test_run(mini_survey, tmp_path, capsys, suffix):
    from astropy.table import Table

    directory, catalogue = mini_survey
    out = tmp_path / f"out{suffix}"
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == ["3 rows: 2 measured, 1 not measured",
                           "measured: PA_STELLAR 2, PA_GAS 2 (Ha-6564), DPA 2"]
    assert printed[3] == "KINMIS_FLAG: 1 NO_MAPS"
    assert printed[4] == f"written to {out}"
    table = Table.read(out)
    assert list(table["PLATEIFU"]) == ["8200-1901", "8200-1902", "8200-1903"]
    assert {"PA_STELLAR", "DPA", "USABLE_GAS", "KINMIS_FLAG"} <= set(table.colnames)
    assert table["KINMIS_FLAG"][2] == 1  # NO_MAPS
    # An existing output is kept unless --overwrite is given.
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--overwrite", "--no-progress"]) == 0


def test_run_errors(mini_survey, tmp_path, capsys):
    from astropy.table import Table

    directory, catalogue = mini_survey
    assert main(["run", str(tmp_path / "none.fits"), "-o", str(tmp_path / "o.ecsv")]) == 1
    assert "none.fits" in capsys.readouterr().err
    nokey = tmp_path / "nokey.ecsv"
    Table({"NAME": ["a"]}).write(nokey)
    assert main(["run", str(nokey), "-o", str(tmp_path / "o.ecsv"),
                 "--source", str(directory)]) == 1
    assert "no PLATEIFU/plateifu column" in capsys.readouterr().err
    text = tmp_path / "junk.fits"
    text.write_text("not a table")
    assert main(["run", str(text), "-o", str(tmp_path / "o.ecsv")]) == 1
    assert "cannot read the catalogue" in capsys.readouterr().err


def test_fit_prints_usability(tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    from kinmisalign import mock
    from kinmisalign.classifier import load_model
    from kinmisalign.maps import read_maps

    galaxy = mock.random_galaxy(np.random.default_rng(5), bundle_size=37, usable_stellar=True,
                                usable_gas=False, plateifu="8300-3701")
    path = mock.write_maps(galaxy, tmp_path, seed=5)
    maps = read_maps(path, line="Hb-4862")
    expect, _ = load_model("embedded").predict_fields([maps.stellar, maps.gas])
    titles = []
    savefig = matplotlib.figure.Figure.savefig

    def recording_savefig(figure, *args, **kwargs):
        titles.extend(ax.get_title() for ax in figure.axes if ax.get_label() in ("stellar",
                                                                                  "gas"))
        return savefig(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", recording_savefig)
    assert main(["fit", str(path), "--line", "Hb-4862", "--plot", str(tmp_path / "qa.png")]) == 0
    out = capsys.readouterr().out
    assert "8300-3701" in out and "gas line Hb-4862" in out
    for label, p in zip(("stellar", "gas"), expect, strict=True):
        verdict = "usable" if p > 0.5 else "unusable"
        assert re.search(rf"USABLE_{label}\s+{p:.3f}  {verdict}\n", out), (label, p, out)
    assert "usability network kinmisalign-footprint-v2: usable when p > 0.5" in out
    # the QA figure says the same
    assert [t.splitlines()[1] for t in titles] == [
        f"p(usable) = {p:.3f}: {'usable' if p > 0.5 else 'UNUSABLE'}" for p in expect]


def _gau_survey(tmp_path, plateifus, daptype="HYB10-GAU-MILESHC", tree=True):
    from kinmisalign import mock

    for i, plateifu in enumerate(plateifus):
        galaxy = mock.random_galaxy(np.random.default_rng(i), bundle_size=19,
                                    usable_stellar=True, usable_gas=True, plateifu=plateifu)
        mock.write_maps(galaxy, tmp_path, tree=tree, seed=i, daptype=daptype)
    return tmp_path


def test_summary_counts_every_flag():
    from astropy.table import MaskedColumn, Table

    from kinmisalign.cli import _summary

    n = 11_465
    measured = np.zeros(n, dtype=bool)
    measured[0] = True
    flags = np.where(measured, 1 << 9, 1).astype(np.int32)  # GAS_UNUSABLE, else NO_MAPS
    table = Table({name: MaskedColumn(np.ones(n), mask=~measured)
                   for name in ("PA_STELLAR", "PA_GAS", "DPA")})
    table["KINMIS_FLAG"] = flags
    table.meta["KM_LINE"] = "Ha-6564"
    assert _summary(table, "out.fits") == [
        "11,465 rows: 1 measured, 11,464 not measured",
        "measured: PA_STELLAR 1, PA_GAS 1 (Ha-6564), DPA 1",
        "KINMIS_FLAG: 11,464 NO_MAPS, 1 GAS_UNUSABLE",
        "written to out.fits"]


@pytest.mark.parametrize("tree", [True, False])
def test_wrong_daptype_is_named(tmp_path, capsys, tree):
    from astropy.table import Table

    directory = _gau_survey(tmp_path / "maps", ["8201-1901", "8201-1902"], tree=tree)
    catalogue = tmp_path / "cat.ecsv"
    Table({"PLATEIFU": ["8201-1901", "8201-1902"]}).write(catalogue)
    out = tmp_path / "out.ecsv"
    argv = ["run", str(catalogue), "-o", str(out), "--source", str(directory), "--no-progress"]
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert "KINMIS_FLAG: 2 NO_MAPS" in captured.out
    assert ("2 of 2 rows are NO_MAPS: no MAPS file of DAPTYPE HYB10-MILESHC-MASTARSSP"
            in captured.err)
    assert "rerun with --daptype HYB10-GAU-MILESHC (and --overwrite" in captured.err
    assert main(argv + ["--daptype", "HYB10-GAU-MILESHC", "--overwrite"]) == 0
    captured = capsys.readouterr()
    assert "2 rows: 2 measured, 0 not measured" in captured.out and not captured.err


def test_missing_maps_without_another_daptype(tmp_path, capsys):
    from astropy.table import Table

    (tmp_path / "empty").mkdir()
    catalogue = tmp_path / "cat.ecsv"
    Table({"PLATEIFU": ["8201-1901"]}).write(catalogue)
    assert main(["run", str(catalogue), "-o", str(tmp_path / "o.ecsv"), "--source",
                 str(tmp_path / "empty"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "1 of 1 rows are NO_MAPS" in err and "check --source and --daptype" in err


def _write_dapall(path, keys, extname, column="PLATEIFU"):
    from astropy.io import fits
    from astropy.table import Table

    hdu = fits.table_to_hdu(Table({column: keys, "Z": np.full(len(keys), 0.03)}))
    hdu.name = extname
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


def test_hdu_sets_the_daptype(tmp_path, capsys):
    from astropy.table import Table

    directory = _gau_survey(tmp_path / "maps", ["8201-1901"])
    catalogue = tmp_path / "dapall.fits"
    _write_dapall(catalogue, ["8201-1901"], "HYB10-GAU-MILESHC")
    out = tmp_path / "out.fits"
    assert main(["run", str(catalogue), "--hdu", "HYB10-GAU-MILESHC", "-o", str(out),
                 "--source", str(directory), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "DAPTYPE HYB10-GAU-MILESHC (from --hdu)" in captured.err
    assert "1 rows: 1 measured" in captured.out
    assert Table.read(out).meta["KM_DAPTY"] == "HYB10-GAU-MILESHC"
    # The same --daptype is fine; another is a clear error before any work.
    assert main(["run", str(catalogue), "--hdu", "HYB10-GAU-MILESHC", "--daptype",
                 "HYB10-GAU-MILESHC", "-o", str(out), "--overwrite", "--source",
                 str(directory), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", str(catalogue), "--hdu", "HYB10-GAU-MILESHC", "--daptype",
                 "VOR10-GAU-MILESHC", "-o", str(tmp_path / "x.fits"), "--source",
                 str(directory)]) == 1
    err = capsys.readouterr().err
    assert ("--hdu HYB10-GAU-MILESHC is the extension of DAPTYPE HYB10-GAU-MILESHC, but "
            "--daptype VOR10-GAU-MILESHC was given") in err
    assert not (tmp_path / "x.fits").exists()
    # An extension that is not named after a DAPTYPE leaves the DAPTYPE alone.
    other = tmp_path / "drpall.fits"
    _write_dapall(other, ["8201-1901"], "DRPALL")
    assert main(["run", str(other), "--hdu", "DRPALL", "--daptype", "HYB10-GAU-MILESHC",
                 "-o", str(tmp_path / "y.ecsv"), "--source", str(directory),
                 "--no-progress"]) == 0
    assert "from --hdu" not in capsys.readouterr().err


def test_key_option(tmp_path, capsys):
    from astropy.table import Table

    directory = _gau_survey(tmp_path / "maps", ["8201-1901"])
    catalogue = tmp_path / "cat.ecsv"
    Table({"obs": ["8201-1901"], "other": ["x"]}).write(catalogue)
    argv = ["run", str(catalogue), "-o", str(tmp_path / "o.ecsv"), "--source", str(directory),
            "--daptype", "HYB10-GAU-MILESHC", "--no-progress"]
    assert main(argv) == 1
    assert "name the key column" in capsys.readouterr().err
    assert main(argv + ["--key", "obs"]) == 0
    assert "1 rows: 1 measured" in capsys.readouterr().out
    assert not np.ma.getmaskarray(Table.read(tmp_path / "o.ecsv")["PA_STELLAR"]).any()


def test_line_is_named_in_output(mini_survey, tmp_path, capsys):
    from astropy.table import Table

    directory, catalogue = mini_survey
    out = tmp_path / "out.ecsv"
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--line", "Hb-4862", "--no-progress"]) == 0
    assert "PA_GAS 2 (Hb-4862)" in capsys.readouterr().out
    table = Table.read(out)
    assert table.meta["KM_LINE"] == "Hb-4862"
    assert "Hb-4862" in table["PA_GAS"].description


def test_fits_header_comments_and_csv_sidecar(mini_survey, tmp_path, capsys):
    import json

    from astropy.io import fits
    from astropy.table import Table

    from kinmisalign.batch import FLAGS

    directory, catalogue = mini_survey
    out = tmp_path / "out.fits"
    assert main(["run", str(catalogue), "-o", str(out), "--source", str(directory),
                 "--no-progress"]) == 0
    header = fits.getheader(out, 1)
    assert header.comments["KFNAME01"] == "name of KINMIS_FLAG bit 1"
    assert header.comments["KFDESC01"] == "meaning of KINMIS_FLAG bit 1"
    assert header["KFDESC01"] == FLAGS["BAD_MAPS"][1]  # complete, over CONTINUE cards
    assert header.comments["KM_THRES"] == "USABLE_* = USABLE_PROB_* > this"
    fitsmeta = {k: v for k, v in Table.read(out).meta.items() if k.startswith(("KM_", "KF"))}

    csv = tmp_path / "out.csv"
    sidecar = tmp_path / "out.csv.provenance.json"
    sidecar.write_text("{}")
    argv = ["run", str(catalogue), "-o", str(csv), "--source", str(directory), "--no-progress"]
    assert main(argv) == 1  # the sidecar is not replaced without --overwrite
    assert "out.csv.provenance.json exists" in capsys.readouterr().err
    assert not csv.exists()
    assert main(argv + ["--overwrite"]) == 0
    assert f"provenance written to {sidecar}" in capsys.readouterr().out
    provenance = json.loads(sidecar.read_text())
    assert set(provenance) == set(fitsmeta)
    assert {k: v for k, v in provenance.items() if k != "KM_DATE"} == \
        {k: v for k, v in fitsmeta.items() if k != "KM_DATE"}


def test_resuming_is_said(mini_survey, tmp_path, capsys):
    directory, catalogue = mini_survey
    argv = ["run", str(catalogue), "--source", str(directory), "--no-progress",
            "--checkpoint", str(tmp_path / "c.sqlite")]
    assert main(argv + ["-o", str(tmp_path / "a.ecsv")]) == 0
    assert "resuming" not in capsys.readouterr().err
    assert main(argv + ["-o", str(tmp_path / "b.ecsv")]) == 0
    assert "kinmisalign run: resuming: 3 of 3 already measured" in capsys.readouterr().err


def test_progress_on_a_default_install(mini_survey, tmp_path, capsys):
    from configparser import ConfigParser
    from pathlib import Path

    setup = ConfigParser()
    setup.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    requires = setup["options"]["install_requires"].split()
    assert any(r.startswith("tqdm") for r in requires)
    directory, catalogue = mini_survey
    assert main(["run", str(catalogue), "--source", str(directory),
                 "-o", str(tmp_path / "a.ecsv")]) == 0
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_says_how_to_resume(tmp_path, workers):
    import os
    import shlex
    import signal
    import sqlite3
    import time
    from contextlib import closing
    from pathlib import Path

    from astropy.table import Table

    from kinmisalign import mock

    plateifus = [f"8202-{1901 + i}" for i in range(12)]
    for i, plateifu in enumerate(plateifus):
        galaxy = mock.random_galaxy(np.random.default_rng(i), bundle_size=19,
                                    usable_stellar=True, usable_gas=True, plateifu=plateifu)
        mock.write_maps(galaxy, tmp_path / "maps", tree=True, seed=i)
    catalogue = tmp_path / "cat.ecsv"
    Table({"PLATEIFU": plateifus}).write(catalogue)
    reference = tmp_path / "reference.ecsv"
    argv = ["run", str(catalogue), "--source", str(tmp_path / "maps"), "--no-progress"]
    assert main(argv + ["-o", str(reference)]) == 0

    log = tmp_path / "measured.log"
    signals = tmp_path / "signals"
    signals.mkdir()
    checkpoint = tmp_path / "run.sqlite"
    script = Path(__file__).with_name("_stopping_cli.py")
    # The kinmisalign being tested (installed, with its compiled engine), not the source tree.
    root = str(Path(kinmisalign.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1")
    command = [*argv, "-o", str(tmp_path / "out.ecsv"), "--checkpoint", str(checkpoint),
               "-w", str(workers), "--fresh-checkpoint"]
    # The run stops once its third record is committed, until Ctrl-C.
    proc = subprocess.Popen([sys.executable, str(script), "committed:3", str(log), str(signals),
                             *command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (signals / "stopped").exists():  # the run's word, not a guess at its speed
            assert proc.poll() is None, f"the run ended before it stopped: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "the run did not stop"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    with closing(sqlite3.connect(checkpoint)) as conn:
        held = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    assert held == 3
    assert (f"kinmisalign run: interrupted; the checkpoint {checkpoint} holds {held} of "
            f"{len(plateifus)} observations. Resume with:") in err
    resume = err.split("Resume with:\n", 1)[1].splitlines()[0].strip()
    words = shlex.split(resume)
    assert words[0] == "kinmisalign" and "--fresh-checkpoint" not in words
    assert words[1:] == [w for w in command if w != "--fresh-checkpoint"]

    # The printed command resumes: it says so and ends with the uninterrupted run's table.
    done = subprocess.run([sys.executable, "-m", "kinmisalign.cli", *words[1:]], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (f"kinmisalign run: resuming: {held} of {len(plateifus)} already measured"
            in done.stderr)
    got, expect = Table.read(tmp_path / "out.ecsv"), Table.read(reference)
    for name in expect.colnames:
        assert got[name].pformat() == expect[name].pformat(), name


def test_ctrl_c_without_checkpoint(mini_survey, tmp_path, capsys, monkeypatch):
    from kinmisalign import batch

    def interrupted(items, options, parallel):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(batch, "_run", interrupted)
    directory, catalogue = mini_survey
    assert main(["run", str(catalogue), "-o", str(tmp_path / "o.ecsv"), "--source",
                 str(directory), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; nothing was kept (give --checkpoint FILE" in err
    assert not (tmp_path / "o.ecsv").exists()
