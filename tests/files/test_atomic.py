"""Atomic outputs: a killed or failed write never leaves a partial file or litter behind.

The kill tests are deterministic: the child process blocks inside a write (after the
temporary file is open and partly written, or half-way through moving a set into place)
and says so on its stdout; only then does the parent send SIGKILL. A fresh process then
writes again, as a user re-running the command would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rtplan._atomic import atomic_folder, atomic_open, atomic_path, clean_stale, is_temporary

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid checks are POSIX")


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _litter(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if is_temporary(p)]


def _run_until_blocked(code: str, *args: str) -> subprocess.Popen[str]:
    """Start a child that prints READY once it blocks inside the write."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the child did not reach the write: {line!r}\n{err}")
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # reaped (its pid no longer runs), pipes closed
    assert proc.returncode == -signal.SIGKILL


def _rerun(code: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


# the child blocks by reading its stdin, which the parent never writes to
BLOCK = "print('READY', flush=True); sys.stdin.read()"

PNG_KILLED = f"""
    import sys
    import numpy as np
    import PIL.Image
    from rtplan.guidance import save_png

    def hooked(self, fp, *args, **kwargs):
        with open(fp, "wb") as fh:
            fh.write(b"\\x89PNG\\r\\n partial")
        {BLOCK}

    PIL.Image.Image.save = hooked
    save_png(np.full((16, 16, 3), 200, dtype=np.uint8), sys.argv[1])
"""
PNG_RERUN = """
    import sys
    import numpy as np
    from rtplan.guidance import save_png
    save_png(np.full((16, 16, 3), 99, dtype=np.uint8), sys.argv[1])
"""


def test_a_png_killed_mid_write_leaves_the_old_file_and_no_litter(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    from rtplan.guidance import save_png

    target = tmp_path / "overlay.png"
    save_png(np.full((16, 16, 3), 7, dtype=np.uint8), target)
    good = target.read_bytes()
    proc = _run_until_blocked(PNG_KILLED, str(target))
    assert len(_litter(tmp_path)) == 1  # the child's temporary file, partly written
    _kill(proc)
    assert target.read_bytes() == good  # never a 0-byte or partial file over a good one
    _rerun(PNG_RERUN, str(target))
    assert _listing(tmp_path) == ["overlay.png"]  # the killed run's litter is gone
    assert np.asarray(PILImage.open(target))[0, 0].tolist() == [99, 99, 99]


DICOM_KILLED = f"""
    import sys
    import rtplan
    from pydicom.dataset import Dataset

    ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    ds = rtplan.io.new_dataset(sop_class_uid="1.2.840.10008.5.1.4.1.1.7", modality="OT",
                               reference=ct, frame_of_reference=False)

    def hooked(self, fp, *args, **kwargs):
        fp.write(b"\\0" * 300)
        fp.flush()
        {BLOCK}

    Dataset.save_as = hooked
    rtplan.io.save_dataset(ds, sys.argv[1])
"""
DICOM_RERUN = """
    import sys
    import rtplan
    ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    ds = rtplan.io.new_dataset(sop_class_uid="1.2.840.10008.5.1.4.1.1.7", modality="OT",
                               reference=ct, frame_of_reference=False,
                               series_description="second run")
    rtplan.io.save_dataset(ds, sys.argv[1])
"""


def test_a_dicom_file_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    import pydicom

    import rtplan

    ct = rtplan.io.read_ct(rtplan.data.get_path("thigh_sarcoma"))
    target = tmp_path / "SC.dcm"
    first = rtplan.io.new_dataset(
        sop_class_uid="1.2.840.10008.5.1.4.1.1.7", modality="OT", reference=ct,
        frame_of_reference=False, series_description="first run",
    )  # fmt: skip
    rtplan.io.save_dataset(first, target)
    good = target.read_bytes()
    proc = _run_until_blocked(DICOM_KILLED, str(target))
    _kill(proc)
    assert target.read_bytes() == good
    assert len(_litter(tmp_path)) == 1
    _rerun(DICOM_RERUN, str(target))
    assert _listing(tmp_path) == ["SC.dcm"]
    assert pydicom.dcmread(target).SeriesDescription == "second run"


SET_KILLED = f"""
    import sys
    from pathlib import Path
    from rtplan.io import atomic_folder

    with atomic_folder(sys.argv[1]) as stage:
        (stage.path / "a.csv").write_text("new a")
        {BLOCK}
        (stage.path / "b.csv").write_text("new b")
"""
SET_RERUN = """
    import sys
    from rtplan.io import atomic_folder

    with atomic_folder(sys.argv[1]) as stage:
        (stage.path / "a.csv").write_text("third a")
        (stage.path / "b.csv").write_text("third b")
"""


def _old_set(folder: Path) -> None:
    with atomic_folder(folder) as stage:
        (stage.path / "a.csv").write_text("old a")
        (stage.path / "b.csv").write_text("old b")
        (stage.path / "sub").mkdir()
        (stage.path / "sub" / "c.csv").write_text("old c")


def test_a_set_killed_while_written_leaves_the_old_set(tmp_path: Path) -> None:
    out = tmp_path / "export"
    _old_set(out)
    proc = _run_until_blocked(SET_KILLED, str(out))
    _kill(proc)
    assert (out / "a.csv").read_text() == "old a"
    assert (out / "b.csv").read_text() == "old b"
    assert len(_litter(out)) == 1  # the killed run's staging folder
    _rerun(SET_RERUN, str(out))
    assert _litter(out) == []
    assert [(out / n).read_text() for n in ("a.csv", "b.csv")] == ["third a", "third b"]
    assert (out / "sub" / "c.csv").read_text() == "old c"  # not part of the new set


COMMIT_KILLED = f"""
    import os, sys
    import rtplan._atomic as atomic
    from rtplan.io import atomic_folder

    real = os.replace
    moved = []

    def hooked(src, dst):
        real(src, dst)
        if "commit" in str(src):  # one file of the set moved into place, then killed
            moved.append(dst)
            {BLOCK}

    atomic.os.replace = hooked
    with atomic_folder(sys.argv[1]) as stage:
        (stage.path / "a.csv").write_text("new a")
        (stage.path / "b.csv").write_text("new b")
"""
CLEAN = """
    import sys
    from rtplan._atomic import clean_stale
    assert clean_stale(sys.argv[1])
"""


def test_a_set_killed_while_moved_into_place_is_completed_by_the_next_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "export"
    _old_set(out)
    proc = _run_until_blocked(COMMIT_KILLED, str(out))
    _kill(proc)
    texts = sorted((out / n).read_text() for n in ("a.csv", "b.csv"))
    assert texts == ["new a", "old b"]  # half moved: the committed staging folder remains
    assert [Path(p).name.split(".")[-1] for p in _litter(out)] == ["commit"]
    _rerun(CLEAN, str(out))  # the next write into the folder rolls the set forward
    assert _litter(out) == []
    assert [(out / n).read_text() for n in ("a.csv", "b.csv")] == ["new a", "new b"]


def _write_then_fail(out: Path, error: BaseException, *names: str) -> None:
    with atomic_folder(out) as stage:
        for name in names:
            (stage.path / name).write_text(name)
        raise error


def test_a_failed_set_leaves_nothing_new(tmp_path: Path) -> None:
    out = tmp_path / "export"
    _old_set(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(OSError, match="disk full"):
        _write_then_fail(out, OSError("disk full"), "a.csv")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(KeyboardInterrupt):
        _write_then_fail(tmp_path / "new" / "deeper", KeyboardInterrupt(), "a.csv")
    assert list((tmp_path / "new" / "deeper").iterdir()) == []  # created, and left empty


def _write_set(out: Path, *names: str) -> None:
    with atomic_folder(out) as stage:
        for name in names:
            (stage.path / name).write_text("new")


def test_a_folder_in_the_way_fails_before_anything_moves(tmp_path: Path) -> None:
    out = tmp_path / "export"
    _old_set(out)
    (out / "d.csv").mkdir()
    with pytest.raises(IsADirectoryError, match=r"d\.csv"):
        _write_set(out, "a.csv", "d.csv")
    assert (out / "a.csv").read_text() == "old a"
    assert _litter(out) == []


def test_superseded_files_of_the_earlier_set_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "export"
    with atomic_folder(out) as stage:
        for n in (1, 2, 3):
            (stage.path / f"rank{n}.png").write_text(str(n))
        (stage.path / "notes.txt").write_text("the user's")
    with atomic_folder(out, replaces=("rank*.png",)) as stage:
        (stage.path / "rank1.png").write_text("again")
    assert _listing(out) == ["notes.txt", "rank1.png"]


def test_nested_sets_commit_with_the_enclosing_one(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / "study" / "trajectory").mkdir(parents=True)
    (out / "study" / "trajectory" / "rank2.png").write_text("old rank 2")
    with atomic_folder(out) as stage:
        with atomic_folder(stage.path / "study" / "trajectory", replaces=("rank*.png",)) as inner:
            assert inner.nested
            (inner.path / "rank1.png").write_text("1")
        assert not (out / "study" / "trajectory" / "rank1.png").exists()
    assert _listing(out / "study") == ["trajectory", "trajectory/rank1.png"]


def test_only_stale_temporaries_of_our_pattern_are_cleaned(tmp_path: Path) -> None:
    old = time.time() - 3600
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    names = {
        "dead": f".rtplan-{dead_pid}-0123456789ab.partial.a.csv",
        "alive": f".rtplan-{os.getppid()}-0123456789ab.partial.b.csv",  # a running process
        "mine_now": f".rtplan-{os.getpid()}-0123456789ab.partial.c.csv",  # this one, now
        "lookalike": ".rtplan-12-xyz.partial.d.csv",
        "user": "user.partial",
    }
    for key, name in names.items():
        p = tmp_path / name
        p.write_text(key)
        if key != "mine_now":
            os.utime(p, (old, old))
    removed = clean_stale(tmp_path)
    assert [p.name for p in removed] == [names["dead"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for k, n in names.items() if k != "dead"
    )


def _open_then_fail(target: Path) -> None:
    with atomic_open(target) as fh:
        fh.write("{partial")
        raise ValueError("boom")


def test_atomic_open_and_path(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    with atomic_open(target) as fh:
        fh.write("{}")
    with pytest.raises(ValueError, match="boom"):
        _open_then_fail(target)
    assert target.read_text() == "{}"
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_path(target):
        pass
    assert _listing(tmp_path) == ["t.json"]
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"), atomic_open(target, "a"):
        pass
