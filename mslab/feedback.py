"""Feedback for each student, in English and Chinese: ``OUT/<folder>/feedback.html`` and
``feedback.md``, written from the student's records by :func:`write_feedback` (which
:func:`mslab.classreport.write_reports` calls, so a resumed run rebuilds them).

For each lab: the score and status, each check with its points, result, the check's own message
(what it expected and what came back) and hint, the last lines the student's code printed, and
the command that runs the visible checks again on the student's machine. Nothing else of the
checks is shown: no source line, no traceback, no reference value beyond what a check's message
says, and no seed (which would let anyone draw the hidden inputs again).

Like the class files, both are pure functions of the records (and the labs' titles): writing
the same records again gives the same bytes. Student text is escaped — Jinja2 with autoescape
for HTML (whose Content-Security-Policy forbids scripts and anything outside the file), and
:func:`mslab.classreport.md_text` or a fence longer than any in the text for Markdown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import jinja2

from mslab.errors import MslabError
from mslab.labs import get_lab
from mslab.present import output_tail, plain
from mslab.records import Record, Status, write_atomic
from mslab.text import md_text, num, percent

#: Lines of printed output shown per lab (each cut to present.OUTPUT_LINE_CHARS characters).
OUTPUT_LINES = 30
FILES = ("feedback.html", "feedback.md")

STATUS = {
    Status.GRADED: ("graded", "已评分"),
    Status.MISSING: ("missing: no file for this lab", "缺交：没有找到该实验的文件"),
    Status.UNLOADABLE: ("could not be loaded", "文件无法加载"),
    Status.REJECTED: ("rejected", "提交被拒收"),
    Status.TIMEOUT: ("used up its time", "超出时间限制"),
    Status.ERROR: ("not graded yet: the grader failed, not you", "尚未评分：评分程序出错（不是你的问题）"),
    Status.INTERRUPTED: ("not graded yet: grading was stopped", "尚未评分：评分被中断"),
}


def _lab_titles(lab: str) -> tuple[str, str]:
    try:
        found = get_lab(lab)
    except MslabError:
        return lab, ""
    return found.title, str(found.meta.get("title_zh", ""))


def lab_view(r: Record, max_score: float) -> dict:
    """What the feedback shows of one record (plain text: each renderer escapes it)."""
    title, title_zh = _lab_titles(r.lab)
    en, zh = STATUS[r.status]
    checks = []
    for number, c in enumerate(r.checks, 1):
        if c.passed:
            result = ("pass", "通过")
        elif r.status == Status.UNLOADABLE:
            result = ("not run", "未运行")
        else:
            result = ("fail", "未通过")
        checks.append(
            dict(
                number=number,
                title=plain(c.title),
                hidden=c.hidden,
                task=plain(c.task),
                score=num(c.score),
                points=num(c.points),
                passed=c.passed,
                result=result,
                reason=plain(c.reason),
                hint=plain(c.hint),
            )
        )
    return dict(
        lab=r.lab,
        title=title,
        title_zh=title_zh,
        status=(en, zh),
        gradable=r.status.gradable,
        score=num(r.score),
        max_score=num(max_score),
        reason=plain(r.reason) if r.status.gradable else "",  # the grader's own error is the instructor's
        checks=checks,
        output=output_tail(r.output, OUTPUT_LINES) if r.output else [],
        command=f"inv lab.check {r.lab} --submission {r.lab}.py",
        has_checks=bool(r.checks),
        # the instructor's late penalties and overrides, each with its reason (mslab.adjust)
        adjustments=[plain(a) for a in r.adjustments] if r.status.gradable else [],
        raw_score=num(r.raw_score) if r.raw_score is not None else "",
    )


def view(rows: list[Record], lab_max: Mapping[str, float]) -> dict:
    """The student's feedback: the total and each lab (:func:`lab_view`), labs in name order."""
    rows = sorted(rows, key=lambda r: r.lab)
    labs = [lab_view(r, float(lab_max.get(r.lab, r.max_score))) for r in rows]
    gradable = all(r.status.gradable for r in rows)
    total = sum(float(r.score) for r in rows)
    max_total = sum(float(lab_max.get(r.lab, r.max_score)) for r in rows)
    return dict(
        student=plain(rows[0].student),
        gradable=gradable,
        total=num(total),
        max_total=num(max_total),
        percent=num(percent(total, max_total)),
        labs=labs,
    )


# --- feedback.md ---------------------------------------------------------------------------------


def _fence(lines: list[str]) -> str:
    """A fenced code block no line of ``lines`` can close (the fence is longer than any run of
    backticks in them)."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence + "text", *lines, fence])


def feedback_md(v: dict) -> str:
    out = [f"# Feedback · 反馈: {md_text(v['student'])}"]
    if v["gradable"]:
        out.append(f"**Total 总分: {v['total']} / {v['max_total']}** ({v['percent']}%)")
    else:
        out.append(
            "**Total 总分: not yet 暂无** — the grader failed on a lab of yours (not your doing); your "
            "instructor will grade it again. 评分程序未能评完你的某个实验（不是你的问题），老师会重新评分。"
        )
    out.append(
        "Each check below says what it expected and what your code returned. Hidden checks use inputs the "
        "grader draws; inv lab.check LAB --all draws new ones on your machine. 下面每项检查都写明了期望值和你的代码返回的值。隐藏检查使用评分程序随机生成的输入；在自己的电脑上运行 inv lab.check 实验名 --all 会生成新的输入。"
    )
    for lab in v["labs"]:
        heading = f"## {md_text(lab['lab'])}: {md_text(lab['title'])}"
        if lab["title_zh"]:
            heading += f" · {md_text(lab['title_zh'])}"
        out.append(heading)
        score = f"{lab['score']} / {lab['max_score']}" if lab["gradable"] else f"– / {lab['max_score']}"
        out.append(f"Score 得分: **{score}** — {md_text(lab['status'][0])} · {md_text(lab['status'][1])}")
        if lab["reason"]:
            out.append(md_text(lab["reason"]))
        if lab["adjustments"]:
            out.append(
                f"The checks gave 检查得分 {lab['raw_score']}; then 然后: "
                + "; ".join(md_text(a) for a in lab["adjustments"])
            )
        if lab["has_checks"]:
            lines = [
                "| # | check 检查 | task 任务 | points 分数 | result 结果 | why / hint 原因 / 提示 |",
                "|---:|---|---|---:|---|---|",
            ]
            for c in lab["checks"]:
                title = md_text(c["title"]) + (" (hidden 隐藏)" if c["hidden"] else "")
                why = md_text(c["reason"])
                if c["hint"]:
                    why += (" — " if why else "") + "Hint 提示: " + md_text(c["hint"])
                result = f"{c['result'][0]} {c['result'][1]}"
                cells = [str(c["number"]), title, md_text(c["task"]), f"{c['score']}/{c['points']}", result, why]
                lines.append("| " + " | ".join(cells) + " |")
            out.append("\n".join(lines))
        if lab["output"]:
            out.append(f"What your code printed (last {len(lab['output'])} lines) · 你的代码输出（最后几行）:")
            out.append(_fence(lab["output"]))
        if lab["has_checks"]:
            out.append("Run the visible checks yourself · 在自己的电脑上运行可见检查:")
            out.append(_fence([lab["command"]]))
    return "\n\n".join(out) + "\n"


# --- feedback.html -------------------------------------------------------------------------------

_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{# no script, no external anything, even if an escape were ever missed #}
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feedback · 反馈: {{ v.student }}</title>
<style>
body{font-family:system-ui,"Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei",sans-serif;margin:2em auto;max-width:62em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.why{white-space:pre-wrap;overflow-wrap:anywhere}
td.r{white-space:nowrap}
tr.pass td.r{color:#1a7f37}
tr.fail td.r{color:#b42318;font-weight:bold}
.hint{color:#6b4e00;margin-top:.25em}
.total{font-size:1.2em}
.zh{color:#555}
pre{background:#f6f8fa;border:1px solid #ddd;padding:.5em;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere}
</style>
</head>
<body>
<h1>Feedback · 反馈: {{ v.student }}</h1>
{% if v.gradable %}
<p class="total"><strong>Total 总分: {{ v.total }} / {{ v.max_total }}</strong> ({{ v.percent }}%)</p>
{% else %}
<p class="total"><strong>Total 总分: not yet 暂无</strong> — the grader failed on a lab of yours (not your doing); your instructor will grade it again.
<span class="zh">评分程序未能评完你的某个实验（不是你的问题），老师会重新评分。</span></p>
{% endif %}
<p>Each check below says what it expected and what your code returned. Hidden checks use inputs the grader draws; inv lab.check LAB --all draws new ones on your machine.
<span class="zh">下面每项检查都写明了期望值和你的代码返回的值。隐藏检查使用评分程序随机生成的输入；在自己的电脑上运行 inv lab.check 实验名 --all 会生成新的输入。</span></p>
{% for lab in v.labs %}
<h2>{{ lab.lab }}: {{ lab.title }}{% if lab.title_zh %} · <span class="zh">{{ lab.title_zh }}</span>{% endif %}</h2>
<p>Score 得分: <strong>{% if lab.gradable %}{{ lab.score }}{% else %}–{% endif %} / {{ lab.max_score }}</strong> — {{ lab.status[0] }} · <span class="zh">{{ lab.status[1] }}</span></p>
{% if lab.reason %}
<p class="why">{{ lab.reason }}</p>
{% endif %}
{% if lab.adjustments %}
<p>The checks gave <span class="zh">检查得分</span> {{ lab.raw_score }}; then <span class="zh">然后</span>: {{ lab.adjustments | join("; ") }}</p>
{% endif %}
{% if lab.has_checks %}
<table>
<tr><th>#</th><th>check 检查</th><th>task 任务</th><th>points 分数</th><th>result 结果</th><th>why / hint 原因 / 提示</th></tr>
{% for c in lab.checks %}
<tr class="{{ 'pass' if c.passed else 'fail' }}"><td class="n">{{ c.number }}</td><td>{{ c.title }}{% if c.hidden %} <span class="zh">(hidden 隐藏)</span>{% endif %}</td><td>{{ c.task }}</td><td class="n">{{ c.score }}/{{ c.points }}</td><td class="r">{{ c.result[0] }} {{ c.result[1] }}</td><td class="why">{{ c.reason }}{% if c.hint %}<div class="hint">Hint 提示: {{ c.hint }}</div>{% endif %}</td></tr>
{% endfor %}
</table>
{% endif %}
{% if lab.output %}
<h3>What your code printed (last {{ lab.output|length }} lines) · <span class="zh">你的代码输出（最后几行）</span></h3>
<pre>{{ lab.output|join("\n") }}</pre>
{% endif %}
{% if lab.has_checks %}
<h3>Run the visible checks yourself · <span class="zh">在自己的电脑上运行可见检查</span></h3>
<pre>{{ lab.command }}</pre>
{% endif %}
{% endfor %}
</body>
</html>
"""

_TEMPLATE = jinja2.Environment(
    autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
).from_string(_HTML)


def feedback_html(v: dict) -> str:
    return _TEMPLATE.render(v=v)


def write_feedback(
    records: list[Record], out: Path, *, lab_max: Mapping[str, float], folders: Mapping[str, str]
) -> list[str]:
    """Write ``feedback.html`` and ``feedback.md`` into ``out/<folder>/`` for every student of
    ``records`` (one record per student × lab) that ``folders`` gives a folder; returns the
    folders written (:func:`mslab.classreport.feedback_folders` says which get one)."""
    written = []
    for student, folder in sorted(folders.items(), key=lambda kv: kv[1]):
        v = view([r for r in records if r.student == student], lab_max)
        write_atomic(out / folder / "feedback.md", feedback_md(v))
        write_atomic(out / folder / "feedback.html", feedback_html(v))
        written.append(folder)
    return written
