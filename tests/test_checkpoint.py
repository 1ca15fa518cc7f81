"""Tests of resumable runs: the SQLite checkpoint of add_kinematic_columns and measure_files."""

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import kinmisalign
import kinmisalign.batch as batch
from kinmisalign import CheckpointError, add_kinematic_columns
from kinmisalign._checkpoint import Checkpoint, item_id
from kinmisalign.batch import Key, measure_files

FAST = {"method": "fast"}
TESTS = Path(__file__).resolve().parent
SCRIPT = TESTS / "_resumable_run.py"
PACKAGE_ROOT = str(Path(kinmisalign.__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """18 small mock observations of every kind, plus a missing and an invalid key."""
    from kinmisalign.mock import make_mock_catalogue

    directory = tmp_path_factory.mktemp("resume")
    truth = make_mock_catalogue(directory, n=18, seed=5, bundle_size=19)
    keys = list(truth["PLATEIFU"])
    keys[3:3] = ["9999-1901"]  # no MAPS file
    keys.append("not-a-key")
    table = Table({"PLATEIFU": keys, "Z": np.linspace(0.01, 0.1, len(keys))},
                  meta={"EXTNAME": "DAPALL", "COMMENT": ["a mock catalogue"]})
    catalogue = directory / "dapall.ecsv"
    table.write(catalogue)
    return directory, catalogue


@pytest.fixture(scope="module")
def reference(survey):
    directory, catalogue = survey
    return add_kinematic_columns(Table.read(catalogue), source=directory, fit_options=FAST)


def assert_identical(a, b):
    assert a.colnames == b.colnames
    # all of meta, but the date of the run
    assert ({k: v for k, v in a.meta.items() if k != "KM_DATE"}
            == {k: v for k, v in b.meta.items() if k != "KM_DATE"})
    assert len(a) == len(b)
    for name in a.colnames:
        ca, cb = a[name], b[name]
        assert ca.dtype == cb.dtype, name
        assert ca.unit == cb.unit and ca.description == cb.description, name
        ma, mb = np.ma.getmaskarray(ca), np.ma.getmaskarray(cb)
        np.testing.assert_array_equal(ma, mb, err_msg=name)
        va, vb = np.asarray(ca)[~ma], np.asarray(cb)[~mb]
        if va.dtype.kind == "f":
            # Bit for bit, NaN included.
            assert va.tobytes() == vb.tobytes(), name
        else:
            np.testing.assert_array_equal(va, vb, err_msg=name)


def committed(path):
    """Items in a checkpoint file, read as another process would after a crash."""
    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT item FROM results")}


class Submitted:
    """Records what each run hands to the measuring backend; optionally stops after n."""

    def __init__(self, monkeypatch):
        self.runs = []
        self.stop_after = None
        run = batch._run

        def recording_run(items, options, parallel):
            self.runs.append([item_id(item) for item in items])
            for n, result in enumerate(run(items, options, parallel)):
                if self.stop_after is not None and n == self.stop_after:
                    raise KeyboardInterrupt
                yield result

        monkeypatch.setattr(batch, "_run", recording_run)


@pytest.mark.parametrize("parallel", [False, 2])
def test_interrupted_run_resumes_without_recomputing(survey, reference, tmp_path, monkeypatch,
                                                     parallel):
    directory, catalogue = survey
    table = Table.read(catalogue)
    checkpoint = tmp_path / "run.sqlite"
    submitted = Submitted(monkeypatch)
    submitted.stop_after = 7
    with pytest.raises(KeyboardInterrupt):
        add_kinematic_columns(table, source=directory, fit_options=FAST, parallel=parallel,
                              checkpoint=checkpoint)
    done = committed(checkpoint)
    assert len(done) == 7
    every = set(submitted.runs[0])
    assert done <= every and len(every) == 19  # 18 files and the missing one; not the invalid

    submitted.stop_after = None
    out = add_kinematic_columns(table, source=directory, fit_options=FAST, parallel=parallel,
                                checkpoint=checkpoint)
    assert set(submitted.runs[1]) == every - done  # nothing finished is measured again
    assert_identical(out, reference)
    # A finished checkpoint: a third run measures nothing and gives the same table.
    again = add_kinematic_columns(table, source=directory, fit_options=FAST,
                                  checkpoint=checkpoint)
    assert submitted.runs[2] == []
    assert_identical(again, reference)


def _start(survey, tmp_path, run, workers, stop):
    """Start a run of the script that stops at ``stop`` (see ``_interrupt.py``)."""
    directory, catalogue = survey
    log = tmp_path / f"log-{run}.jsonl"
    signals = tmp_path / f"signals-{run}"
    signals.mkdir()
    command = [sys.executable, str(SCRIPT), str(catalogue), str(directory),
               str(tmp_path / "run.sqlite"), str(tmp_path / "out.ecsv"), str(log), str(signals),
               str(workers), stop]
    environ = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_ROOT, str(TESTS)]),
                   OMP_NUM_THREADS="1")
    proc = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, log, signals


def _stopped(proc, signals, timeout=300):
    """Where the run stopped (the script's own word), once it has; fails if it ended."""
    path = signals / "stopped"
    deadline = time.monotonic() + timeout
    while not path.exists():  # a wait for the run's word, not a guess at its speed
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended (exit status {proc.returncode}) before it stopped:\n{err}")
        if time.monotonic() > deadline:
            _kill(proc)
            pytest.fail(f"the run did not stop within {timeout} s")
        time.sleep(0.01)
    return json.loads(path.read_text())


def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:  # worker processes of the killed run, if any are left
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.stdout.close()
    proc.stderr.close()


def _log(log):
    """(items submitted, items measured) of a run's log."""
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    submitted = [item for entry in entries for item in entry.get("submitted", [])]
    return submitted, [entry["measured"] for entry in entries if "measured" in entry]


# Where each run of a checkpointed catalogue is killed: before anything, inside the source
# (in a worker process when there are workers), with a record back but not committed, inside
# a record's SQLite transaction, right after a commit, at the first item of a run; at last
# after the last record of a run ("committed:all"), so that nothing is left for the next.
# k is cut to what a run has left (with workers, a stop in the source lets others finish).
KILLS = ["start", "source:3", "returned:1", "commit:4", "committed:5", "source:1", "returned:4",
         "committed:all"]
N_ITEMS = 19  # 18 files and one missing (the invalid key is never measured)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_chosen_records(survey, reference, tmp_path, workers):
    """SIGKILL at chosen records, run after run: nothing committed is lost or measured again,
    and the run that finishes gives the table of an uninterrupted run."""
    checkpoint = tmp_path / "run.sqlite"
    kills = 0
    for run, plan in enumerate(KILLS):
        before = committed(checkpoint) if checkpoint.exists() else set()
        left = N_ITEMS - len(before)
        if not left:
            break
        kind, _, k = plan.partition(":")
        k = min(left, int(k)) if k and k != "all" else left
        stop = f"{kind}:{k}" if kind != "start" else kind
        proc, log, signals = _start(survey, tmp_path, run, workers, stop)
        where = _stopped(proc, signals)
        _kill(proc)
        kills += 1
        submitted, measured = _log(log)
        now = committed(checkpoint)
        # What a run measures had not been committed before it started.
        assert set(submitted) == set(every_item(survey)) - before
        assert before <= now <= before | set(measured)
        if where["committed"] is not None:
            # Stopped in this process, where the commits are made: exactly these are kept.
            assert now == before | set(where["committed"]), stop
        else:
            # Stopped in a source: serially, the items before it; with workers, some of
            # those handed out.
            assert where["item"] == submitted[k - 1]
            if workers == 1:
                assert now == before | set(submitted[:k - 1])
        if where["item"] is not None:
            assert (where["item"] in now) == (kind == "committed"), stop
    assert kills >= (len(KILLS) if workers == 1 else 3)
    assert committed(checkpoint) == set(every_item(survey))
    proc, log, _ = _start(survey, tmp_path, "last", workers, "none")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert _log(log)[0] == []  # nothing is measured again
    assert_identical(Table.read(tmp_path / "out.ecsv"), reference)
    with closing(sqlite3.connect(checkpoint)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def every_item(survey):
    """Checkpoint names of the survey's items that a run measures."""
    keys = Table.read(survey[1])["PLATEIFU"]
    return [item_id(Key(key)) for key in keys if key != "not-a-key"]


@pytest.mark.parametrize("tear", [False, True])
def test_kill_inside_a_write_transaction(survey, reference, tmp_path, monkeypatch, tear):
    """Kill while the third record's transaction is open; optionally tear the last logged
    commit too."""
    proc, _, signals = _start(survey, tmp_path, 0, 1, "commit:3")
    where = _stopped(proc, signals)
    _kill(proc)
    items = [*where["committed"], where["item"]]
    assert len(items) == 3
    checkpoint = tmp_path / "run.sqlite"
    wal = Path(f"{checkpoint}-wal")
    assert wal.exists() and wal.stat().st_size > 0  # a hot log: recovery has work to do
    if tear:
        # A torn last write: the end of the log's last commit never reached the disk.
        with open(wal, "r+b") as fh:
            fh.truncate(wal.stat().st_size - 100)
    expected = set(items[:1] if tear else items[:2])  # the third was never committed
    with closing(sqlite3.connect(checkpoint)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {row[0] for row in conn.execute("SELECT item FROM results")} == expected
        for (text,) in conn.execute("SELECT record FROM results"):
            json.loads(text)  # whole records, never a part of one

    submitted = Submitted(monkeypatch)
    out = add_kinematic_columns(Table.read(survey[1]), source=survey[0], fit_options=FAST,
                                checkpoint=checkpoint)
    assert not set(submitted.runs[0]) & expected
    assert items[2] in submitted.runs[0]
    assert_identical(out, reference)


def test_records_round_trip_exactly(tmp_path):
    record = {"FILENAME": "/data/ça va 'quoted'; DROP TABLE results; --", "PLATEIFU": "",
              "KINMIS_FLAG": 4097, "KINMIS_PROBLEMS": "gas: only 0 usable point(s)\nstellar: ⚠",
              "PA_STELLAR": 0.1 + 0.2, "PA_STELLAR_ERR": float("nan"), "DPA": -0.0,
              "DPA_ERR": float("inf"), "NSPX_STELLAR": np.int64(391),
              "USABLE_PROB_GAS": float(np.float32(0.003983015)), "USABLE_GAS": np.bool_(False)}
    with Checkpoint(tmp_path / "c.sqlite", {"a": 1}) as store:
        store.add("file:/x", record)
    with Checkpoint(tmp_path / "c.sqlite", {"a": 1}) as store:
        back = store.records()["file:/x"]
    assert set(back) == set(record)
    assert math.isnan(back["PA_STELLAR_ERR"]) and back["DPA_ERR"] == math.inf
    assert math.copysign(1, back["DPA"]) == -1
    assert back["PA_STELLAR"] == 0.1 + 0.2 and back["NSPX_STELLAR"] == 391
    assert back["USABLE_PROB_GAS"] == float(np.float32(0.003983015))
    assert back["USABLE_GAS"] is False
    for name in ("FILENAME", "KINMIS_PROBLEMS", "KINMIS_FLAG", "PLATEIFU"):
        assert back[name] == record[name]


def test_measure_files_checkpoint_with_hostile_path(survey, tmp_path, monkeypatch):
    directory, _ = survey
    odd = tmp_path / "x'); DROP TABLE results; --"
    odd.mkdir()
    paths = sorted(directory.glob("*.fits.gz"))[:2] + [odd / "missing.fits.gz"]
    reference = measure_files(paths, fit_options=FAST)
    checkpoint = tmp_path / "files.sqlite"
    first = measure_files(paths, fit_options=FAST, checkpoint=checkpoint)
    submitted = Submitted(monkeypatch)
    second = measure_files(paths, fit_options=FAST, checkpoint=checkpoint)
    assert submitted.runs == [[]]
    assert_identical(first, reference)
    assert_identical(second, reference)
    assert len(committed(checkpoint)) == 3
    # Rows are keyed by absolute path: the same file named relatively is the same item.
    monkeypatch.chdir(paths[0].parent)
    third = measure_files([paths[0].name], fit_options=FAST, checkpoint=checkpoint)
    assert submitted.runs[-1] == []
    assert third["PA_STELLAR"][0] == reference["PA_STELLAR"][0]


def test_resumed_run_keeps_partial_results_and_problems(survey, tmp_path, monkeypatch):
    """A row measured in part (no H-alpha channel), a failed one and the reasons in words come
    back from the checkpoint as they were measured."""
    from astropy.io import fits

    directory, _ = survey
    good = sorted(directory.glob("*.fits.gz"))[0]
    no_line = tmp_path / "no-halpha.fits.gz"
    with fits.open(good) as hdul:
        header = hdul["EMLINE_GVEL"].header
        for key in list(header):
            if header[key] == "Ha-6564":
                header[key] = "Hx-0000"
        hdul.writeto(no_line)
    paths = [good, no_line, tmp_path / "missing.fits.gz"]
    reference = measure_files(paths, fit_options=FAST, model="embedded")
    checkpoint = tmp_path / "partial.sqlite"
    first = measure_files(paths[:2], fit_options=FAST, model="embedded", checkpoint=checkpoint)
    submitted = Submitted(monkeypatch)
    resumed = measure_files(paths, fit_options=FAST, model="embedded", checkpoint=checkpoint)
    assert submitted.runs == [[item_id(str(paths[2]))]]
    assert_identical(first, reference[:2])
    assert_identical(resumed, reference)
    row = resumed[1]
    assert row["PA_STELLAR"] == reference["PA_STELLAR"][0] and np.ma.is_masked(row["PA_GAS"])
    assert "GAS_LINE_MISSING" in batch.describe_flags(row["KINMIS_FLAG"])
    assert "no channel named 'Ha-6564'" in row["KINMIS_PROBLEMS"]
    assert "not found" in resumed["KINMIS_PROBLEMS"][2]


@pytest.fixture
def small_checkpoint(survey, tmp_path):
    """A checkpoint of two observations written with the default settings."""
    directory, catalogue = survey
    table = Table.read(catalogue)[:2]
    checkpoint = tmp_path / "small.sqlite"
    add_kinematic_columns(table, source=directory, fit_options=FAST, checkpoint=checkpoint)
    return table, checkpoint


@pytest.mark.parametrize("change, named", [
    ({"threshold": 0.7}, "usable threshold"),
    ({"model": "toy"}, "usability model"),
    ({"maskbits": "donotuse"}, "mask bits"),
    ({"fit_options": dict(FAST, min_points=50)}, "min_points"),
    ({"fit_options": dict(FAST, method="pafit")}, "PA method"),
    ({"fit_options": dict(FAST, nsteps=181)}, "other fit options"),
    ({"clean_options": {"sigma": 4.0}}, "cleaning options"),
    ({"daptype": "VOR10-MILESHC-MASTARSSP"}, "DAPTYPE"),
    ({"line": "Hb-4862"}, "emission line"),
    ({"source": "other"}, "source"),
    ({"version": "99.0"}, "kinmisalign version"),
])
def test_other_settings_are_refused(survey, small_checkpoint, tmp_path, monkeypatch, change,
                                    named):
    directory, _ = survey
    table, checkpoint = small_checkpoint
    kwargs = {"source": directory, "fit_options": FAST, "checkpoint": checkpoint}
    change = dict(change)
    if "version" in change:
        monkeypatch.setattr(kinmisalign._provenance, "VERSION", change.pop("version"))
    if change.get("source") == "other":
        other = tmp_path / "other"
        other.mkdir()
        change["source"] = other
    if change.get("model") == "toy":
        change["model"] = _toy_model()
    kwargs.update(change)
    content = checkpoint.read_bytes()
    submitted = Submitted(monkeypatch)
    with pytest.raises(CheckpointError, match="other settings") as info:
        add_kinematic_columns(table, **kwargs)
    message = str(info.value)
    assert named in message and str(checkpoint) in message and "fresh" in message
    # Only what differs is named.
    assert message.count(" in the checkpoint, ") == 1
    assert submitted.runs == [] and checkpoint.read_bytes() == content

    # Asked explicitly, the old results are discarded and everything is measured afresh.
    add_kinematic_columns(table, fresh_checkpoint=True, **kwargs)
    assert len(submitted.runs[0]) == 2
    add_kinematic_columns(table, **kwargs)  # and the checkpoint now has the new settings
    assert submitted.runs[1] == []


def _toy_model():
    from kinmisalign.classifier import UsabilityModel

    rng = np.random.default_rng(0)
    layers = [{"type": "flatten", "name": "flatten"},
              {"type": "dense", "name": "d0", "units": 1, "activation": "sigmoid"}]
    weights = {"d0/kernel": rng.normal(size=(1024, 1)) * 0.01, "d0/bias": np.zeros(1)}
    return UsabilityModel(layers, weights, meta={"name": "toy"})


def test_model_identity_is_its_weights():
    """The same weights under another name are the same model; one changed weight is not."""
    from kinmisalign._checkpoint import _model_identity

    a, b = _toy_model(), _toy_model()
    b.meta["name"] = "renamed"
    assert _model_identity(a)["sha256"] == _model_identity(b)["sha256"]
    b.weights["d0/kernel"][5, 0] += 1e-6
    assert _model_identity(a)["sha256"] != _model_identity(b)["sha256"]


def test_recalibrated_model_is_another_model():
    """Same weights, another calibration: the checkpoint must not mix their results."""
    from kinmisalign._checkpoint import _model_identity
    from kinmisalign.classifier import UsabilityModel

    a = _toy_model()
    b = UsabilityModel(a.layers, a.weights, meta={"name": "toy"},
                       output={"logit": True, "average": "none",
                               "calibration": {"kind": "platt", "slope": 1.5, "intercept": 0.2}})
    assert _model_identity(a)["sha256"] != _model_identity(b)["sha256"]


def test_not_a_checkpoint_is_refused_untouched(survey, tmp_path):
    directory, catalogue = survey
    table = Table.read(catalogue)[:1]
    text = tmp_path / "notes.txt"
    text.write_text("my precious notes\n" * 100)
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE mine (x)")
    for path, match in ((text, "not a SQLite database"), (other, "not a kinmisalign")):
        content = path.read_bytes()
        for fresh in (False, True):
            with pytest.raises(CheckpointError, match=match) as info:
                add_kinematic_columns(table, source=directory, fit_options=FAST,
                                      checkpoint=path, fresh_checkpoint=fresh)
            assert str(path) in str(info.value)
            assert path.read_bytes() == content
    with pytest.raises(CheckpointError, match="is a directory"):
        add_kinematic_columns(table, source=directory, checkpoint=tmp_path)
    with pytest.raises(CheckpointError, match="cannot open"):
        add_kinematic_columns(table, source=directory, checkpoint=tmp_path / "no" / "c.sqlite")


def test_damaged_checkpoint_gets_a_clear_error(small_checkpoint, survey):
    directory, _ = survey
    table, checkpoint = small_checkpoint
    data = bytearray(checkpoint.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    data[page:3 * page] = b"\xa5" * (2 * page)  # scribble over the tables
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged|not a kinmisalign|malformed") as info:
        add_kinematic_columns(table, source=directory, fit_options=FAST, checkpoint=checkpoint)
    assert str(checkpoint) in str(info.value)


def test_records_that_are_not_records_are_refused(tmp_path):
    path = tmp_path / "c.sqlite"
    with Checkpoint(path, {"a": 1}) as store:
        store.add("file:/x", {"KINMIS_FLAG": 0, "KINMIS_PROBLEMS": ""})
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE results SET record = ? WHERE item = ?", ("[1, 2]", "file:/x"))
    with Checkpoint(path, {"a": 1}) as store, \
            pytest.raises(CheckpointError, match="damaged.*file:/x is not a kinmisalign record"):
        store.records()


def test_write_errors_are_checkpoint_errors(tmp_path, monkeypatch):
    with Checkpoint(tmp_path / "c.sqlite", {"a": 1}) as store:
        store.add("file:/x", {"KINMIS_FLAG": 0, "KINMIS_PROBLEMS": ""})
        store._conn.execute("PRAGMA query_only = ON")  # as a full or read-only disk would
        with pytest.raises(CheckpointError, match="cannot write to the checkpoint"):
            store.add("file:/y", {"KINMIS_FLAG": 0, "KINMIS_PROBLEMS": ""})
        store._conn.execute("PRAGMA query_only = OFF")
        assert set(store.records()) == {"file:/x"}
        assert not store._conn.in_transaction


def test_one_run_at_a_time(tmp_path):
    with Checkpoint(tmp_path / "c.sqlite", {"a": 1}), \
            pytest.raises(CheckpointError, match="in use by another run"):
        Checkpoint(tmp_path / "c.sqlite", {"a": 1})
    with Checkpoint(tmp_path / "c.sqlite", {"a": 1}):  # free again once closed
        pass


def test_files_follow_the_umask(survey, tmp_path):
    directory, catalogue = survey
    old = os.umask(0o077)
    try:
        checkpoint = tmp_path / "private.sqlite"
        add_kinematic_columns(Table.read(catalogue)[:1], source=directory, fit_options=FAST,
                              checkpoint=checkpoint)
    finally:
        os.umask(old)
    assert checkpoint.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{checkpoint}-wal").exists()  # the log is folded in on close


def test_cli_checkpoint(survey, tmp_path, capsys, monkeypatch):
    from kinmisalign.cli import main

    directory, catalogue = survey
    small = tmp_path / "small.ecsv"
    Table.read(catalogue)[:3].write(small)
    checkpoint = tmp_path / "cli.sqlite"
    out = tmp_path / "out.ecsv"
    base = ["run", str(small), "--source", str(directory), "--no-progress",
            "--checkpoint", str(checkpoint)]
    submitted = Submitted(monkeypatch)
    assert main(base + ["-o", str(out)]) == 0
    assert len(submitted.runs[0]) == 3
    assert main(base + ["-o", str(tmp_path / "again.ecsv")]) == 0
    assert submitted.runs[1] == []
    assert_identical(Table.read(tmp_path / "again.ecsv"), Table.read(out))
    capsys.readouterr()
    assert main(base + ["-o", str(tmp_path / "x.ecsv"), "--daptype",
                        "VOR10-MILESHC-MASTARSSP"]) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "DAPTYPE" in err and "--fresh-checkpoint" in err
    assert main(["run", str(small), "-o", str(tmp_path / "y.ecsv"), "--source", str(directory),
                 "--fresh-checkpoint"]) == 1
    assert "--fresh-checkpoint needs --checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_dask_checkpoint(survey, reference, tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    directory, catalogue = survey
    table = Table.read(catalogue)
    checkpoint = tmp_path / "dask.sqlite"
    submitted = Submitted(monkeypatch)
    submitted.stop_after = 5
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with pytest.raises(KeyboardInterrupt):
            add_kinematic_columns(table, source=directory, fit_options=FAST, parallel=client,
                                  checkpoint=checkpoint)
        done = committed(checkpoint)
        assert len(done) == 5
        submitted.stop_after = None
        out = add_kinematic_columns(table, source=directory, fit_options=FAST, parallel=client,
                                    checkpoint=checkpoint)
    assert set(submitted.runs[1]) == set(submitted.runs[0]) - done
    assert_identical(out, reference)


def test_key_names():
    assert item_id(Key("8000-3701")) == "plateifu:8000-3701"
    assert item_id("a.fits") == f"file:{os.path.abspath('a.fits')}"
