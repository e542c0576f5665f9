"""A learning platform's bulk download is taken in as it comes: each layout is recognised from the
names the platform writes (fixtures built from each platform's documented naming), every student
is found under the name the platform shows, with the platform's id, e-mail, submission time and
late mark where it gives them, and re-uploads take the latest attempt and say so."""

from __future__ import annotations

import zipfile
from pathlib import Path

from conftest import ROOT
from mslab import layouts
from mslab.submissions import find_submissions

CODE = b"def f(x):\n    return x\n"
OTHER = b"def f(x):\n    return 2 * x\n"
LABS = ["derivatives", "value_and_grad"]


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _zip(files: dict[str, bytes]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _taken(root: Path, tmp_path: Path) -> dict:
    return {s.student: s for s in find_submissions(root, LABS, tmp_path / "staging")}


def test_canvas_names_late_work_reuploads_and_a_zip(tmp_path):
    root = _write(
        tmp_path / "canvas",
        {
            "smithjohn_12345_67890_derivatives.py": CODE,
            "smithjohn_12345_67890_value_and_grad.py": OTHER,
            "leeanna_late_23456_78901_derivatives-1.py": OTHER,  # late, and uploaded twice in one submission
            "wangwei_34567_89012_hw1.zip": _zip({"hw1/derivatives.py": CODE}),
        },
    )
    assert layouts.detect(root)[0] == "canvas"
    subs = _taken(root, tmp_path)
    assert sorted(subs) == ["leeanna", "smithjohn", "wangwei"]
    john, anna, wei = subs["smithjohn"], subs["leeanna"], subs["wangwei"]
    assert (john.platform, john.platform_id, john.login, john.late) == ("canvas", "12345", "smithjohn", False)
    assert john.files["derivatives"].read_bytes() == CODE and john.files["value_and_grad"].read_bytes() == OTHER
    assert (anna.late, anna.platform_id) == (True, "23456")
    assert anna.files["derivatives"].read_bytes() == OTHER  # derivatives-1.py is the re-uploaded derivatives.py
    assert wei.files["derivatives"].read_bytes() == CODE  # from inside the zip
    assert john.submitted_at == ""  # Canvas's file names carry no time: unknown, never a file's mtime


def test_moodle_folders_and_flat_files(tmp_path):
    root = _write(
        tmp_path / "moodle",
        {
            "Anna Lee_101_assignsubmission_file_/derivatives.py": CODE,
            "张三_102_assignsubmission_file_/hw/value_and_grad.py": OTHER,
        },
    )
    assert layouts.detect(root)[0] == "moodle"
    subs = _taken(root, tmp_path)
    assert sorted(subs) == ["Anna Lee", "张三"]
    assert (subs["Anna Lee"].platform_id, subs["张三"].platform_id) == ("101", "102")
    assert subs["张三"].files["value_and_grad"].read_bytes() == OTHER
    assert subs["Anna Lee"].late is None and subs["Anna Lee"].submitted_at == ""
    flat = _write(tmp_path / "flat", {"Anna Lee_101_assignsubmission_file_derivatives.py": CODE})
    assert layouts.detect(flat)[0] == "moodle"
    assert _taken(flat, tmp_path / "f")["Anna Lee"].files["derivatives"].read_bytes() == CODE


def test_gradescope_export_with_a_group_submission(tmp_path):
    root = _write(
        tmp_path / "gradescope",
        {
            "submission_111/derivatives.py": CODE,
            "submission_222/derivatives.py": OTHER,
            "submission_metadata.yml": b"""\
submission_111:
  :submitters:
  - :name: Solo Student
    :sid: '100'
    :email: solo@example.edu
  :created_at: 2026-11-30 22:15:01.123456000 -08:00
  :score: 0.0
submission_222:
  :submitters:
  - :name: Pair One
    :sid: '200'
    :email: one@example.edu
  - :name: Pair Two
    :sid: '201'
    :email: two@example.edu
  :created_at: 2026-12-01 08:00:00.000000000 -08:00
""",
        },
    )
    assert layouts.detect(root)[0] == "gradescope"
    subs = _taken(root, tmp_path)
    assert sorted(subs) == ["Pair One", "Pair Two", "Solo Student"]
    solo = subs["Solo Student"]
    assert (solo.platform_id, solo.email) == ("100", "solo@example.edu")
    assert solo.submitted_at == "2026-11-30T22:15:01.123456-08:00"
    assert subs["Pair Two"].files["derivatives"].read_bytes() == OTHER
    assert "group submission" in subs["Pair One"].notes["derivatives"]


def test_blackboard_takes_the_latest_attempt_and_says_so(tmp_path):
    receipt = "Name: John Doe (jdoe)\nAssignment: Lab1\nDate Submitted: {when}\n\nFiles:\n"
    root = _write(
        tmp_path / "blackboard",
        {
            "Lab1_jdoe_attempt_2026-03-01-10-00-00_derivatives.py": CODE,
            "Lab1_jdoe_attempt_2026-03-01-10-00-00.txt": receipt.format(when="1 March").encode(),
            "Lab1_jdoe_attempt_2026-03-02-09-30-00_derivatives.py": OTHER,
            "Lab1_jdoe_attempt_2026-03-02-09-30-00.txt": receipt.format(when="2 March").encode(),
            "Lab1_amy_attempt_2026-03-01-11-00-00_derivatives.py": CODE,
        },
    )
    assert layouts.detect(root)[0] == "blackboard"
    subs = _taken(root, tmp_path)
    assert sorted(subs) == ["John Doe", "amy"]  # the receipt's name; without one, the user name
    john = subs["John Doe"]
    assert john.files["derivatives"].read_bytes() == OTHER  # the latest attempt
    assert (john.platform_id, john.submitted_at) == ("jdoe", "2026-03-02T09:30:00")
    assert john.notes["derivatives"] == "2 attempts; graded the latest (2026-03-02 09:30:00)"


def test_a_plain_class_is_not_taken_for_a_platforms_download():
    assert layouts.detect(ROOT / "examples" / "submissions") is None


def test_two_students_with_one_name_are_told_apart_by_their_ids(tmp_path):
    root = _write(
        tmp_path / "canvas",
        {"smithjohn_1_10_derivatives.py": CODE, "smithjohn_2_20_derivatives.py": OTHER},
    )
    subs = _taken(root, tmp_path)
    assert sorted(subs) == ["smithjohn (1)", "smithjohn (2)"]
    assert subs["smithjohn (2)"].files["derivatives"].read_bytes() == OTHER
