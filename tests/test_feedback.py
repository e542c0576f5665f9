"""One feedback file per student (OUT/<folder>/feedback.html and feedback.md), in English
and Chinese, and no per-student file that quotes the checks' source (junit.xml is written from the
check results, not by pytest, whose tracebacks quoted checks/hidden.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import LABS, ROOT, chromium, write_variant
from mslab.records import Record

EXAMPLES = ROOT / "examples" / "submissions"
GRADED_LABS = ["derivatives", "value_and_grad"]
# derivative() that applies grad once whatever the order: orders 2 and 3 fail, visible and hidden
ONCE = ("    for _ in range(order):\n        fn = grad(fn)\n    return fn(x)", "    return grad(fn)(x)")
PRINTS = "print('<script>alert(1)</script>')\nfor i in range(100):\n    print(f'line {i}')\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A class graded with visible and hidden checks: bob (the tutorial's mistakes, failing hidden
    checks), carol (no value_and_grad.py), printer (prints 101 lines and markup; derivative()
    wrong for orders 2 and 3), 张三 (alice's files: full marks, a folder that is a slug-hash)."""
    from mslab.grade import grade_class

    root = tmp_path_factory.mktemp("feedback")
    subs = root / "subs"
    for student in ("bob", "carol"):
        shutil.copytree(EXAMPLES / student, subs / student)
    shutil.copytree(EXAMPLES / "alice", subs / "张三")
    (subs / "printer").mkdir()
    path = write_variant(LABS["derivatives"], subs / "printer", [ONCE])
    path.write_text(path.read_text(encoding="utf-8") + PRINTS, encoding="utf-8")
    shutil.copy(LABS["value_and_grad"].solution, subs / "printer" / "value_and_grad.py")
    grade_class(subs, root / "out", labs=GRADED_LABS, seed=7, jobs=2)
    return root / "out"


def folders(out) -> dict[str, str]:
    return {
        s: v["folder"] for s, v in json.loads((out / "grades.json").read_text(encoding="utf-8"))["students"].items()
    }


def source_lines() -> set[str]:
    """Every line (stripped, longer than 20 characters) of the labs' checks and solutions."""
    lines = set()
    for pattern in ("*/checks/*.py", "*/solution/*.py"):
        for path in (ROOT / "labs").glob(pattern):
            lines |= {s for line in path.read_text(encoding="utf-8").splitlines() if len(s := line.strip()) > 20}
    return lines


def test_no_per_student_file_quotes_the_checks_or_the_solutions(graded):
    files = [p for folder in folders(graded).values() for p in (graded / folder).rglob("*") if p.is_file()]
    failed_hidden = [
        c
        for p in files
        if p.name == "record.json"
        for c in Record.from_json(p.read_text(encoding="utf-8")).checks
        if c.hidden and not c.passed
    ]
    assert len(failed_hidden) >= 5, "the class fails hidden checks: their messages are in the files"
    lines = source_lines()
    assert len(lines) > 100
    for path in files:
        text = path.read_text(encoding="utf-8")
        leaked = [line for line in lines if line in text]
        assert leaked == [], (path.relative_to(graded), leaked[:3])
        assert "Traceback" not in text and "checks/hidden.py" not in text and "hidden.py:" not in text
    names = {p.name for p in files}
    assert names == {"feedback.html", "feedback.md", "results.json", "junit.xml", "record.json"}


def test_junit_xml_is_written_from_the_check_results(graded):
    junit = graded / "bob" / "derivatives" / "junit.xml"
    record = Record.from_json((graded / "bob" / "derivatives" / "record.json").read_text(encoding="utf-8"))
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "derivatives"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.name for c in record.checks]
    failed = {c.name: c for c in record.checks if not c.passed}
    assert int(suite.get("failures")) == len(failed) == 5
    for case in cases:
        failure = case.find("failure")
        if case.get("name") not in failed:
            assert failure is None
            continue
        c = failed[case.get("name")]
        assert failure.get("message") == f"{c.reason}\nHint: {c.hint}" == failure.text
    assert {c.get("classname") for c in cases} == {"derivatives.visible", "derivatives.hidden"}


def test_each_student_gets_feedback_in_english_and_chinese(graded):
    where = folders(graded)
    assert where["张三"].startswith("student-")
    assert "Feedback · 反馈: 张三" in (graded / where["张三"] / "feedback.md").read_text(encoding="utf-8")

    md = (graded / "printer" / "feedback.md").read_text(encoding="utf-8")
    assert md.startswith("# Feedback · 反馈: printer\n\n**Total 总分: 34 / 40** (85%)")
    assert "## derivatives: Derivatives with mindspore.grad · 使用 mindspore.grad 求导" in md
    assert "Score 得分: **14 / 20** — graded · 已评分" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "fail 未通过" in line]
    assert len(rows) == 3
    assert rows[0].startswith(
        "| 7 | derivative(exp(x/2) − x², x, 2) | 4 | 0/2 | fail 未通过 | d²/dx² \\[exp(0.5 \\* x) - x\\*\\*2\\]: got "
    )
    assert ", expected " in rows[0] and "Hint 提示: apply grad \\`order\\` times" in rows[0]
    assert "(hidden 隐藏) | 4 | 0/2 | fail 未通过 | order-2 derivative of " in rows[1]
    assert "(hidden 隐藏) | 4 | 0/2 | fail 未通过 | order-2 derivative of fn: got " in rows[2]  # its declared gradient
    assert "inv lab.check derivatives --submission derivatives.py" in md
    # what the code printed: the last 30 lines, as text in a fence
    assert "line 99" in md and "line 70" in md and "line 69" not in md
    assert "你的代码输出" in md

    page = (graded / "printer" / "feedback.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" not in page  # cut: 30 lines
    assert (
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        in page
    )
    assert "src=" not in page and "<link" not in page and "http" not in page.replace("http-equiv", "")
    assert "<pre>inv lab.check derivatives --submission derivatives.py</pre>" in page
    assert "line 99" in page and "line 69" not in page

    bob = (graded / "bob" / "feedback.html").read_text(encoding="utf-8")
    erratum = next(m["hint"] for m in LABS["derivatives"].mistakes if m["erratum"] == 2)
    assert f"Hint 提示: {erratum}".replace("'", "&#39;") in bob
    carol = (graded / "carol" / "feedback.md").read_text(encoding="utf-8")
    assert "— missing: no file for this lab · 缺交：没有找到该实验的文件" in carol


def test_printed_markup_is_escaped_in_both_files(tmp_path):
    from mslab.classreport import write_reports
    from mslab.records import CheckResult, Status

    evil = "<script>alert(1)</script> ``` <img src=x onerror=alert(2)> \x1b[31m"
    check = CheckResult("test_x", evil, "1", 2.0, 0.0, True, False, reason=evil, hint=evil)
    record = Record("eve", "derivatives", 0.0, 2.0, Status.GRADED, checks=[check], output=evil + "\n````\n")
    write_reports([record], tmp_path, labs={"derivatives": 2.0})
    page = (tmp_path / "eve" / "feedback.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page and "\x1b" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 4  # the title, reason, hint and output
    md = (tmp_path / "eve" / "feedback.md").read_text(encoding="utf-8")
    assert "<script" not in md.split("`````text")[0]  # outside the fence, escaped
    assert "`````text\n<script>alert(1)</script> ``` <img src=x onerror=alert(2)> \n````\n`````" in md


def screenshot(page, png, width=1000, height=1400) -> None:
    """A headless Chromium screenshot of ``page`` (a file) into ``png``."""
    args = [chromium(), "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    args += [f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()]
    subprocess.run(args, check=True, capture_output=True, timeout=120)


def test_feedback_html_shows_in_a_real_browser(graded, tmp_path):
    from PIL import Image  # Pillow: a dependency of MindSpore's

    png = tmp_path / "feedback.png"
    screenshot(graded / "printer" / "feedback.html", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.size == (1000, 1400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "a page with text, not a blank one"
    white = max(colours)[0] / (1000 * 1400)
    assert 0.3 < white < 0.99, white


def test_a_lab_the_grader_failed_on_has_no_mark_and_no_grader_internals(tmp_path):
    from mslab.classreport import write_reports
    from mslab.records import Status

    records = [
        Record.empty("zoe", "derivatives", 20.0, Status.ERROR, "grader worker failed: /srv/grader/venv unreadable"),
        Record.empty("zoe", "value_and_grad", 20.0, Status.MISSING, "no value_and_grad.py; the folder held: notes.txt"),
    ]
    write_reports(records, tmp_path, labs={"derivatives": 20.0, "value_and_grad": 20.0})
    md = (tmp_path / "zoe" / "feedback.md").read_text(encoding="utf-8")
    assert "**Total 总分: not yet 暂无** — the grader failed on a lab of yours (not your doing)" in md
    assert "Score 得分: **– / 20** — not graded yet: the grader failed, not you" in md
    assert "/srv/grader" not in md and "/srv/grader" not in (tmp_path / "zoe" / "feedback.html").read_text()
    assert "Score 得分: **0 / 20** — missing: no file for this lab" in md and "the folder held: notes.txt" in md
