"""Whatever the user types: every subcommand × every failure class is refused before any work.

Each case runs `rsvp ...` in-process and asserts exit status 2, exactly one line on stderr, no
traceback, and that nothing under the test's folder changed (every file hashed before and
after). The messages make `docs/bad_inputs.md` (`test_bad_inputs_table_is_up_to_date`; set
`RSVP_UPDATE_DOCS=1` to rewrite it). The output folder's own guarantees (lock, staging, commit,
clean-up) are tested on `open_output` directly, without the command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from cli_helpers import run_cli
from rsvp_jax.errors import ConfigError
from rsvp_jax.runs import LOCK, MANIFEST, folder_owner, open_output

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"

#: The smallest valid call of each subcommand; every refusal below comes before any compile.
COMMANDS = {
    "simulate": ["simulate", "--shape", "8,8", "--steps", "4", "--quiet"],
    "jacobian": ["jacobian", "--shape", "8,8", "--tile", "4", "--topk", "0", "--horizon", "none", "--quiet"],
    "sweep": ["sweep", "--shape", "8,8", "--steps", "4", "--param", "gamma=0.1,0.2", "--quiet"],
    "fit": ["fit", "--shape", "8,8", "--steps", "4", "--save-every", "2", "--quiet"],
    "llm-jacobian": ["llm-jacobian", "--model", "/nonexistent/model.gguf"],
    "compare": ["compare", "--quick"],
    "demo": ["demo", "--quick"],
    "bench": ["bench", "--quick", "--only", "solver"],
}

#: Per command: the input that needs more memory (or a denser block) than any machine has, and
#: the negative seeds. None: the command has no such input (fixed sizes, no seed).
TOO_LARGE = {
    "simulate": ["--shape", "100000,100000"],
    "jacobian": ["--shape", "100000,100000"],
    "sweep": ["--shape", "100000,100000"],
    "fit": ["--shape", "100000,100000"],
    "compare": "limit",  # fixed sizes: refused under a small RSVP_MEMORY_LIMIT
    "demo": "limit",
}
NEGATIVE_SEED = {
    "simulate": ["--seed", "-1"],
    "jacobian": ["--seed", "-1"],
    "sweep": ["--param", "seed=-1,0"],
    "fit": ["--noise-seed", "-1"],
}
OTHER = {"sweep": "simulate"}  # whose results each command finds in a foreign folder (default: sweep's)


def _foreign_results(tmp, command):
    d = tmp / "d"
    d.mkdir()
    other = OTHER.get(command, "sweep")
    (d / MANIFEST).write_text(json.dumps({"command": other, "files": ["data.nc"]}))
    (d / "data.nc").write_bytes(b"results of another command")
    return ["--out", str(d)], f"holds the results of rsvp {other}"


def _foreign_files(tmp, command):
    d = tmp / "d"
    d.mkdir()
    (d / "notes.txt").write_text("the user's own notes")
    return ["--out", str(d)], "was not written by rsvp"


def _under_file(tmp, command):
    (tmp / "afile").write_text("a file")
    return ["--out", str(tmp / "afile" / "sub")], "which is a file"


def _read_only(tmp, command):
    ro = tmp / "ro"
    ro.mkdir()
    (ro / "kept.txt").write_text("kept")
    ro.chmod(0o555)
    return ["--out", str(ro / "run")], "is read-only"


CLASSES = {
    "out under /proc": lambda tmp, c: (["--out", "/proc/rsvp-test/x"], "virtual file system"),
    "out under /sys": lambda tmp, c: (["--out", "/sys/rsvp-test"], "virtual file system"),
    "out under a file": _under_file,
    "read-only folder": _read_only,
    "empty --out": lambda tmp, c: (["--out", ""], "is empty"),
    "another command's results": _foreign_results,
    "a folder of other files": _foreign_files,
    "folder in use (locked)": None,  # set up in the test: the lock must be held while the command runs
    "too large for memory": None,
    "negative seed": None,
}

CASES = [(c, k) for c in COMMANDS for k in CLASSES
         if not (k == "too large for memory" and c not in TOO_LARGE) and not (k == "negative seed" and c not in NEGATIVE_SEED)]

#: More refused inputs for the table, beyond the classes above: (command, class, argv, words).
EXTRA = [
    ("simulate", "--save-every 0", ["--save-every", "0"], "--save-every 0 is invalid"),
    ("simulate", "malformed --shape", ["--shape", "64,x"], "--shape '64,x'"),
    ("jacobian", "tile too large to form densely", ["--shape", "64,64", "--tile", "64"], "dense tile blocks of 16384 x 16384"),
    ("jacobian", "--topk above C·N", ["--topk", "5000"], "exceed the 256 singular values"),
    ("sweep", "negative seed (--seed)", ["--seed", "-1"], "--seed -1 is invalid"),
    ("fit", "negative seed (--seed)", ["--seed", "-1"], "--seed -1 is invalid"),
    ("fit", "unknown --fit name", ["--fit", "foo"], "--fit 'foo'"),
    ("demo", "a named LLM that cannot load", ["--llm-model", "/nonexistent/model.gguf"], "no such file"),
]

MESSAGES: dict[tuple[str, str], tuple[str, str]] = {}  # (command, class) → (input, message), for the table


def _tree(root: Path) -> dict:
    """Every file and folder under `root`: path → sha1 of its bytes (None for a folder)."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = None if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def _setup(command, klass, tmp, monkeypatch):
    """(argv after the command's, the words the message must hold, a lock to hold or None)."""
    if klass == "folder in use (locked)":
        d = tmp / "d"
        return ["--out", str(d)], "in use by another rsvp process", d
    out = ["--out", str(tmp / "new")]
    if klass == "too large for memory":
        if TOO_LARGE[command] == "limit":
            monkeypatch.setenv("RSVP_MEMORY_LIMIT", "1000")
            return out, "of memory", None
        return TOO_LARGE[command] + out, "of memory", None
    if klass == "negative seed":
        return NEGATIVE_SEED[command] + out, "seed", None
    argv, words = CLASSES[klass](tmp, command)
    return argv, words, None


def _refused(capsys, tmp_path, argv, words, lock=None):
    """Run `rsvp ARGV`; check the refusal; return its one line."""
    root = tmp_path
    held = open_output(lock, argv[0]) if lock is not None else None
    try:
        before = _tree(root)
        code, out, err = run_cli(capsys, *argv)
        after = _tree(root)
    finally:
        if held is not None:
            held.close()
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert words in lines[0], lines[0]
    assert after == before  # nothing written, nothing overwritten
    return lines[0]


@pytest.mark.parametrize("command, klass", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_every_command_refuses_every_failure_class(command, klass, tmp_path, capsys, monkeypatch):
    argv, words, lock = _setup(command, klass, tmp_path, monkeypatch)
    try:
        line = _refused(capsys, tmp_path, COMMANDS[command] + argv, words, lock)
    finally:
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    MESSAGES[(command, klass)] = (_normal(_input(command, argv), tmp_path), _normal(line, tmp_path))


@pytest.mark.parametrize("command, klass, argv, words", EXTRA, ids=[f"{c}-{k}" for c, k, _, _ in EXTRA])
def test_more_refused_inputs(command, klass, argv, words, tmp_path, capsys):
    line = _refused(capsys, tmp_path, COMMANDS[command] + argv + ["--out", str(tmp_path / "new")], words)
    MESSAGES[(command, klass)] = (" ".join(argv), _normal(line, tmp_path))  # (--out TMP/new not shown)


def _input(command, argv) -> str:
    """The input as typed ('' for an empty argument)."""
    return " ".join(repr(a) if a == "" else a for a in argv)


def _normal(line: str, tmp: Path) -> str:
    """A message with what differs between machines and runs replaced: the folder, pid, host, free memory."""
    line = line.replace(str(tmp), "TMP")
    line = re.sub(r"pid \d+ on \S+?(,|\))", r"pid PID on HOST\1", line)
    return re.sub(r"more than the [\d.]+ \w+ available", "more than the N GiB available", line)


def test_bad_inputs_table_is_up_to_date(tmp_path_factory, monkeypatch):
    """`docs/bad_inputs.md` is the table of every case above, with the messages the tests saw."""
    missing = [(c, k) for c, k in CASES if (c, k) not in MESSAGES]
    missing += [(c, k) for c, k, _, _ in EXTRA if (c, k) not in MESSAGES]
    for command, klass in missing:  # e.g. under -k: compute the rows this session did not run
        tmp = tmp_path_factory.mktemp("row")
        extra = next((e for e in EXTRA if e[:2] == (command, klass)), None)
        with monkeypatch.context() as m:
            if extra is None:
                argv, words, lock = _setup(command, klass, tmp, m)
            else:
                argv, words, lock = extra[2] + ["--out", str(tmp / "new")], extra[3], None
            line = _run_quietly(COMMANDS[command] + argv, lock)
            if (tmp / "ro").exists():
                (tmp / "ro").chmod(0o755)
        assert words in line, line
        given = _normal(_input(command, argv), tmp) if extra is None else " ".join(extra[2])
        MESSAGES[(command, klass)] = (given, _normal(line, tmp))
    text = table()
    if os.environ.get("RSVP_UPDATE_DOCS"):
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/bad_inputs.md is out of date: rerun with RSVP_UPDATE_DOCS=1"


def _run_quietly(argv, lock) -> str:
    import contextlib
    import io

    from rsvp_jax.cli import main

    err = io.StringIO()
    held = open_output(lock, argv[0]) if lock is not None else None
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 2
    finally:
        if held is not None:
            held.close()
    return err.getvalue().strip()


def table() -> str:
    rows = ["# Bad input: what `rsvp` refuses, and what it says", "",
            "Generated from `tests/test_reliability.py` (rewrite it with `RSVP_UPDATE_DOCS=1 pytest "
            "tests/test_reliability.py`; a test fails when it is out of date). Every row is a test: exit status "
            "2, exactly this one line on stderr, no traceback, and nothing under the folder written or changed "
            "(every file hashed before and after). `TMP` stands for the test's folder; each command is the "
            "smallest valid call of it (e.g. `rsvp simulate --shape 8,8 --steps 4`) plus the input shown.", "",
            "| failure class | command | input | message (stderr) |", "|---|---|---|---|"]
    order = list(CLASSES) + [k for _, k, _, _ in EXTRA]
    for (command, klass), (given, message) in sorted(MESSAGES.items(),
                                                     key=lambda kv: (order.index(kv[0][1]), list(COMMANDS).index(kv[0][0]))):
        cell = message.replace("|", "\\|")
        rows.append(f"| {klass} | {command} | `{given}` | {cell} |")
    rows += ["", "Not applicable (and not in the table): too large for `llm-jacobian` (the size is the model's "
             "and the prompt's; checked after the model loads, see `tests/test_cli_llm.py`) and `bench`; a "
             "negative seed for the commands that take no seed (`llm-jacobian`, `compare`, `demo`, `bench`).", ""]
    return "\n".join(rows)


# ---- the output folder, without the command line ----------------------------------------------------
def test_a_run_is_committed_as_one_unit_and_a_crash_before_it_changes_nothing(tmp_path):
    d = tmp_path / "d"
    with open_output(d, "simulate") as out:
        (out.work / "trajectory.nc").write_text("run 1")
        (out.work / MANIFEST).write_text(json.dumps({"command": "simulate"}))
        assert not (d / "trajectory.nc").exists()  # staged, not in place yet
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST, "trajectory.nc"]  # no lock, no stage left
    with pytest.raises(RuntimeError):
        with open_output(d, "simulate") as out:  # run 2 crashes after writing: run 1 stays whole
            (out.work / "trajectory.nc").write_text("run 2")
            raise RuntimeError("killed")
    assert (d / "trajectory.nc").read_text() == "run 1" and sorted(p.name for p in d.iterdir()) == [MANIFEST, "trajectory.nc"]
    with open_output(d, "simulate") as out:  # run 3 replaces run 1 entirely, stale files included
        (out.work / MANIFEST).write_text(json.dumps({"command": "simulate"}))
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST]


def test_a_kill_leaves_temporaries_and_a_journal_that_the_next_run_cleans_up(tmp_path, monkeypatch):
    d = tmp_path / "d"
    d.mkdir()
    (d / ".rsvp-stage-dead").mkdir()
    (d / ".rsvp-stage-dead" / "trajectory.nc").write_text("half")
    (d / ".trajectory.nc.x1.tmp").write_text("half")
    (d / LOCK).write_text("999999 host rsvp simulate\n")  # its owner died: no flock is held
    assert folder_owner(d) == (None, [], False)  # only bookkeeping: an empty folder
    # a commit killed after moving one file: a journal names the command
    real = os.replace
    calls = []

    def dies_after_one(a, b):
        if calls:
            raise KeyboardInterrupt
        calls.append(a)
        real(a, b)

    monkeypatch.setattr(os, "replace", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        with open_output(d, "simulate") as out:
            (out.work / "a.nc").write_text("new")
            (out.work / MANIFEST).write_text(json.dumps({"command": "simulate"}))
    monkeypatch.setattr(os, "replace", real)
    assert folder_owner(d)[0] == "simulate" and folder_owner(d)[2]  # interrupted
    with pytest.raises(ConfigError, match="holds an interrupted run of rsvp simulate"):
        open_output(d, "jacobian")
    with open_output(d, "simulate") as out:
        (out.work / MANIFEST).write_text(json.dumps({"command": "simulate"}))
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST]  # the stale stage, .tmp, journal and lock are gone


def test_overwrite_replaces_another_commands_results_deliberately(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / MANIFEST).write_text(json.dumps({"command": "sweep"}))
    (d / "sweep.nc").write_text("sweep")
    with pytest.raises(ConfigError, match="--overwrite"):
        open_output(d, "simulate")
    with open_output(d, "simulate", overwrite=True) as out:
        (out.work / MANIFEST).write_text(json.dumps({"command": "simulate"}))
        assert (d / "sweep.nc").exists()  # replaced only on commit
    assert sorted(p.name for p in d.iterdir()) == [MANIFEST]


def test_a_failed_validation_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    code, _, err = run_cli(capsys, "simulate", "--shape", "8,8", "--steps", "10", "--save-every", "3",
                           "--out", out, "--quiet")  # refused inside the run: after the folder was made
    assert code == 2 and "multiple of save_every" in err
    assert not (tmp_path / "a").exists()


def test_shape_1_runs_and_writes_a_self_describing_trajectory(tmp_path, capsys):
    """One cell: the start state has no random flow to normalise (it used to be |v| = 1.4e11, and a
    dt limit of 2e-21). The trajectory follows the CF conventions and records --init, --seed and the
    command line."""
    out = tmp_path / "one"
    code, _, err = run_cli(capsys, "simulate", "--shape", "1", "--steps", "2", "--init", "noise", "--seed", "3",
                           "--out", out, "--quiet")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["max_stable_dt"] > 0.05 and summary["final"]["kinetic_energy"] == 0
    with xr.open_dataset(out / "trajectory.nc", engine="h5netcdf") as ds:
        for name in [*ds.coords, *ds.data_vars]:
            assert "long_name" in ds[name].attrs, name
            if ds[name].dtype.kind in "iuf":
                assert ds[name].attrs["units"] == "1", name
        assert ds["x"].attrs["axis"] == "X" and ds["time"].attrs["axis"] == "T"
        assert ds["phi"].attrs["long_name"] == "capacity Φ"
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["init"] == "noise" and ds.attrs["seed"] == 3
        assert ds.attrs["history"] == f"rsvp simulate --shape 1 --steps 2 --init noise --seed 3 --out {out} --quiet"


# ---- two processes -------------------------------------------------------------------------------------
SWEEP = ["sweep", "--shape", "8,8", "--steps", "20", "--save-every", "10", "--method", "euler",
         "--param", "gamma=0.1,0.2,0.3", "--batch-size", "1", "--quiet"]


def test_two_sweeps_on_one_folder_exactly_one_runs(tmp_path, capsys):
    """The second is refused while the first holds the lock (stopped there, so the test cannot race),
    and the first's result equals an uninterrupted run."""
    shared, ref = tmp_path / "shared", tmp_path / "ref"
    first = subprocess.Popen([sys.executable, "-m", "rsvp_jax", *SWEEP, "--out", str(shared)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (shared / "sweep.json").exists():  # written under the lock, before the first batch
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the first sweep never claimed its folder"
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)
        line = _refused(capsys, tmp_path, [*SWEEP, "--out", str(shared)], f"in use by another rsvp process (pid {first.pid}")
        assert "rsvp sweep" in line
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
            first.wait()
    assert json.loads((shared / MANIFEST).read_text())["points_run"] == 3
    assert run_cli(capsys, *SWEEP, "--out", ref)[0] == 0
    with xr.open_dataset(shared / "sweep.nc", engine="h5netcdf") as a, xr.open_dataset(ref / "sweep.nc", engine="h5netcdf") as b:
        assert set(a.data_vars) == set(b.data_vars)
        assert all("long_name" in a[n].attrs and (a[n].dtype.kind not in "iuf" or a[n].attrs["units"] == "1")
                   for n in [*a.coords, *a.data_vars])  # sweep.nc is self-describing too
        assert a.attrs["history"].startswith("rsvp sweep --shape 8,8") and a.attrs["Conventions"] == "CF-1.8"
        for name in a.data_vars:
            if a[name].dtype.kind in "fiu":
                np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert not (shared / LOCK).exists()


def test_a_missing_peer_times_out_with_one_line_naming_the_address(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    proc = subprocess.run([sys.executable, "-m", "rsvp_jax", "sweep", "--coordinator", address, "--num-processes", "2",
                           "--process-id", "0", "--join-timeout", "2", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"waiting for 1 of 2 processes at {address}" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and address in lines[0] and "did not join" in lines[0], proc.stderr
    assert not (tmp_path / "x").exists()


def test_a_changed_sweep_names_the_shape_not_the_initial_state_digest():
    from rsvp_jax.sweeps._store import _difference

    old = {"shape": [8, 8], "initial_state_sha1": "aaa", "steps": 4}
    new = {"shape": [8, 4], "initial_state_sha1": "bbb", "steps": 4}
    assert _difference(old, new) == "shape: [8, 8] there, [8, 4] now"
    assert _difference(old, {**old, "initial_state_sha1": "bbb"}).startswith("initial_state_sha1")


def test_third_party_noise_is_silenced(tmp_path, capsys, monkeypatch):
    """matplotlib's missing-glyph warnings (emoji in a prompt) and transformers' PyTorch advice say
    nothing to our user: the command line filters them out, and sets transformers' own switch."""
    import warnings

    from rsvp_jax.cli import simulate

    def noisy(args):
        warnings.warn("Glyph 128512 (\\N{GRINNING FACE}) missing from font(s) DejaVu Sans.", UserWarning)
        warnings.warn("PyTorch was not found. Models won't be available", UserWarning)
        return 0

    monkeypatch.setattr(simulate, "run", noisy)
    monkeypatch.delenv("TRANSFORMERS_NO_ADVISORY_WARNINGS", raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "simulate", "--out", tmp_path / "x")
    assert code == 0 and not seen and not err
    assert os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] == "1"


def test_version(capsys):
    from rsvp_jax.provenance import version

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"rsvp {version()} (rsvp-jax)" and version() != "unknown"
