"""mslab.similarity on the planted-copies class (tests/fixtures/similarity/README.md)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from mslab import similarity
from mslab.errors import MslabError
from mslab.labs import get_lab

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures" / "similarity"
LABS = ["value_and_grad", "logistic_gradients"]
PLANTED = json.loads((FIXTURES / "planted.json").read_text())


@pytest.fixture(autouse=True)
def _copydetect(request):
    if request.node.name.startswith("test_without_copydetect"):
        return
    if similarity.missing():
        if os.environ.get("CI") == "true":
            pytest.fail("copydetect is not installed (CI=true: the test extra installs mslab[similarity])")
        pytest.skip("copydetect is not installed: pip install -e '.[similarity]'")


def _class(lab: str) -> dict[str, bytes]:
    return {p.name.removesuffix(".py.txt"): p.read_bytes() for p in sorted((FIXTURES / lab).glob("*.py.txt"))}


def _boilerplate(lab: str, **which) -> list[bytes]:
    return similarity.boilerplate_of(get_lab(lab), **which)


def test_the_class_is_what_the_readme_says():
    for lab in LABS:
        names = set(_class(lab))
        assert len({n for n in names if n.startswith("honest")}) == 8
        assert set(PLANTED[lab]) == {n for n in names if n.startswith("planted")}
        assert len(PLANTED[lab]) == 5


@pytest.mark.parametrize("lab", LABS)
def test_every_planted_copy_and_no_honest_pair_at_the_threshold(lab):
    assert similarity.THRESHOLD == 0.7
    found = similarity.pairs(_class(lab), _boilerplate(lab), lab=lab)
    listed = {frozenset((p.student, p.other)) for p in found}
    assert listed == {frozenset(item) for item in PLANTED[lab].items()}  # precision 1.0, recall 1.0
    for p in found:
        assert p.lab == lab
        assert p.student < p.other
        assert min(p.similarity, p.other_similarity) >= 0.75
        assert p.lines and p.other_lines


def _counts(which: dict, rule, threshold: float) -> tuple[int, int]:
    """(pairs listed, copies among them) over both labs."""
    listed = copies = 0
    for lab in LABS:
        planted = {frozenset(item) for item in PLANTED[lab].items()}
        for p in similarity.pairs(_class(lab), _boilerplate(lab, **which), threshold=0.0):
            if rule(p.similarity, p.other_similarity) >= threshold:
                listed += 1
                copies += frozenset((p.student, p.other)) in planted
    return listed, copies


def test_measured_precision_and_recall():
    """bench/bench_similarity.py's figures (10 copies among 156 pairs), the chosen rule and
    boilerplate (starter + walk-through, the larger similarity) and the alternatives."""
    plain = {"starter": True, "walkthrough": True, "solution": False}
    assert [_counts(plain, max, t) for t in (0.5, 0.6, 0.7, 0.8)] == [(20, 10), (14, 10), (10, 10), (10, 10)]
    nothing = {"starter": False, "walkthrough": False, "solution": False}
    assert [_counts(nothing, max, t) for t in (0.6, 0.7, 0.8)] == [(22, 10), (18, 10), (11, 10)]
    everything = {"starter": True, "walkthrough": True, "solution": True}
    assert [_counts(everything, max, t) for t in (0.6, 0.7)] == [(13, 10), (9, 9)]


# ---- each disguise alone, on every honest solution ---------------------------------------------


def _rename(text: str) -> str:
    """Every name assigned or defined in the file (not the lab's own function names) renamed."""
    names = set(re.findall(r"^\s*(\w+)\s*=", text, re.M)) | set(re.findall(r"for (\w+) in", text))
    names |= {n for n in re.findall(r"def (_\w+)\(", text)}
    for i, name in enumerate(sorted(names)):
        text = re.sub(rf"\b{name}\b", f"renamed_{i}", text)
    return text


def _reorder(text: str) -> str:
    head, *blocks = text.rstrip("\n").split("\n\n\n")
    return "\n\n\n".join([head, *reversed(blocks)]) + "\n"


def _comment(text: str) -> str:
    out = ["# my own work, honestly", ""]
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        out.append(line)
        if line.startswith("def "):
            out += ["    # 这里计算梯度", ""]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("lab", LABS)
@pytest.mark.parametrize("disguise", [_rename, _reorder, _comment])
def test_each_disguise_alone_is_found(lab, disguise):
    bp = _boilerplate(lab)
    for name, data in _class(lab).items():
        if not name.startswith("honest"):
            continue
        text = data.decode()
        changed = disguise(text)
        assert changed != text
        found = similarity.pairs({"a": data, "b": changed.encode()}, bp, lab=lab)
        assert len(found) == 1, (name, disguise.__name__)
        assert found[0].score >= similarity.THRESHOLD


def test_a_whole_file_pasted_into_a_longer_one_is_found():
    """Why a pair is judged by its larger similarity: the copier's own extra code lowers only
    the copier's share."""
    source = (FIXTURES / "value_and_grad" / "honest02.py.txt").read_text()
    own = (FIXTURES / "logistic_gradients" / "honest04.py.txt").read_text().split("\n\n\n", 1)[1]
    longer = source + "\n\n# my own experiments from the previous lab\n" + own
    (p,) = similarity.pairs({"a": source.encode(), "b": longer.encode()}, _boilerplate("value_and_grad"))
    assert p.similarity == 1.0
    assert round(p.other_similarity, 3) == 0.418  # the smaller share alone would miss it


# ---- boilerplate, identical files, line ranges --------------------------------------------------


def test_the_untouched_starter_twice_is_not_a_pair():
    lab = get_lab("logistic_gradients")
    starter = lab.starter.read_bytes()
    assert similarity.pairs({"a": starter, "b": starter}, similarity.boilerplate_of(lab), threshold=0.0) == []
    # without boilerplate the two starters are the same file
    (p,) = similarity.pairs({"a": starter, "b": starter}, [], threshold=0.0)
    assert (p.similarity, p.other_similarity) == (1.0, 1.0)


def test_identical_files_share_every_line_of_code():
    text = (FIXTURES / "value_and_grad" / "honest02.py.txt").read_text()
    (p,) = similarity.pairs({"x": text.encode(), "y": text.encode()}, _boilerplate("value_and_grad"))
    assert (p.student, p.other, p.similarity, p.other_similarity) == ("x", "y", 1.0, 1.0)
    assert p.lines == p.other_lines
    assert p.slices == p.other_slices
    last_code_line = len(text.rstrip("\n").splitlines())
    assert p.lines[-1][1] == last_code_line
    # the given `loss` (the starter's, lines 6-9) is boilerplate; only k-grams that cross into
    # it from the code around it (different from the starter's) mark its first and last lines
    assert p.lines == ((1, 7), (9, 41))


def test_line_ranges_from_character_slices():
    text = "a = 1\nb = 2\n\nc = 3\nd = 4\n"
    assert similarity._lines(text, ((0, 3),)) == ((1, 1),)
    assert similarity._lines(text, ((0, 8), (14, 19))) == ((1, 2), (4, 4))
    assert similarity._lines(text, ((6, 12), (14, 20))) == ((2, 2), (4, 5))  # the blank line 3 is not shared
    assert similarity._lines(text, ((6, 12), (12, 20))) == ((2, 5),)


def test_a_bad_threshold_is_one_line():
    with pytest.raises(MslabError, match="between 0 and 1"):
        similarity.pairs({}, [], threshold=1.5)


# ---- OUT/similarity.json and the side-by-side view ---------------------------------------------


def _stage(tmp_path: Path, lab: str, names: list[str]) -> dict[str, dict[str, Path]]:
    staged = {}
    for name in names:
        folder = tmp_path / ".staging" / name
        folder.mkdir(parents=True)
        (folder / f"{lab}.py").write_bytes((FIXTURES / lab / f"{name}.py.txt").read_bytes())
        staged[name] = {lab: folder / f"{lab}.py"}
    return staged


def test_write_similarity(tmp_path):
    lab = "logistic_gradients"
    staged = _stage(tmp_path, lab, ["honest01", "honest03", "honest05", "planted_combo"])
    staged["gone"] = {lab: tmp_path / "nowhere.py"}  # a staged file that vanished is not compared
    data = similarity.write_similarity(tmp_path, staged)
    assert json.loads((tmp_path / "similarity.json").read_text()) == data
    assert data["note"] == ""
    assert data["threshold"] == 0.7 and data["k"] == 25
    assert data["tool"].startswith("copydetect 0.5")
    assert data["boilerplate"] == ["starter", "walkthrough"]
    assert list(data["labs"]) == [lab]
    (pair,) = data["labs"][lab]["pairs"]
    assert (pair["student"], pair["other"]) == ("honest03", "planted_combo")
    assert pair["similarity"] >= 0.75 and pair["other_similarity"] >= 0.75
    assert pair["lines"] and pair["other_lines"]
    assert set(data["labs"][lab]["files"]) == {"honest03", "planted_combo"}
    assert data["labs"][lab]["files"]["honest03"] == (FIXTURES / lab / "honest03.py.txt").read_text()
    back = similarity.Pair.from_dict(pair)
    assert back.to_dict() == pair


def test_without_copydetect_a_note_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "copydetect", None)  # import copydetect raises ImportError
    staged = _stage(tmp_path, "value_and_grad", ["honest01", "honest02"])
    data = similarity.write_similarity(tmp_path, staged)
    assert data == {"version": 1, "note": similarity.NOT_INSTALLED, "k": 25, "threshold": 0.7, "labs": {}}
    assert json.loads((tmp_path / "similarity.json").read_text()) == data
    assert "\n" not in similarity.NOT_INSTALLED
    with pytest.raises(MslabError, match=r"^similarity skipped: copydetect is not installed"):
        similarity.pairs({}, [])


def test_side_by_side_is_escaped_and_marks_the_shared_lines():
    a = "x = 1\n# <script>alert(1)</script>\ny = '\u202e'\n"
    b = "z = 2\n"
    pair = similarity.Pair("lab<1>", "<b>eve</b>", "bob & co", 0.91, 0.5, lines=((1, 1), (3, 3)), other_lines=((1, 1),))
    out = similarity.side_by_side_html(pair, a, b)
    assert "<script" not in out and "&lt;script&gt;" in out
    assert "&lt;b&gt;eve&lt;/b&gt;: 91% of this file is in bob &amp; co's" in out
    assert "bob &amp; co: 50% of this file is in &lt;b&gt;eve&lt;/b&gt;'s" in out
    assert 'data-lab="lab&lt;1&gt;"' in out
    assert '<span class="ln">   1</span> <mark>x = 1</mark>' in out
    assert '<span class="ln">   2</span> # &lt;script&gt;' in out  # not shared: not marked
    assert "<mark>y = &#x27;\\u202e&#x27;</mark>" in out  # a bidi override is shown, not obeyed
    assert "\u202e" not in out
    assert '<span class="ln">   1</span> <mark>z = 2</mark>' in out


def test_side_by_side_of_a_long_file_shows_the_shared_lines_and_their_context():
    a = "".join(f"line{n}\n" for n in range(1, 1001))
    pair = similarity.Pair("l", "a", "b", 1.0, 1.0, lines=((500, 500),), other_lines=((1, 1),))
    out = similarity.side_by_side_html(pair, a, "x\n")
    assert "⋮ 496 lines" in out and "⋮ 497 lines" in out
    assert "<mark>line500</mark>" in out and "line497" in out and "line503" in out
    assert "line496<" not in out and "line504" not in out


@pytest.mark.parametrize("lab", LABS)
def test_files_handed_in_twice_are_compared_once_with_the_same_result(lab):
    """Each distinct text is fingerprinted and compared once; every student still gets each pair."""
    files = _class(lab)
    copies = {**files, **{f"again_{name}": data for name, data in files.items()}}
    once = {(p.student, p.other): p for p in similarity.pairs(files, _boilerplate(lab), lab=lab)}
    twice = similarity.pairs(copies, _boilerplate(lab), lab=lab)
    by_names = {(p.student, p.other): p for p in twice}
    for (a, b), pair in once.items():
        assert by_names[(a, b)] == pair
        for x, y in ((f"again_{a}", b), (a, f"again_{b}"), (f"again_{a}", f"again_{b}")):
            key = (x, y) if x < y else (y, x)
            found = by_names[key]
            assert {found.similarity, found.other_similarity} == {pair.similarity, pair.other_similarity}
    assert sum(1 for a, b in by_names if a == f"again_{b}") == len(files)  # each file and its copy: 100 %
