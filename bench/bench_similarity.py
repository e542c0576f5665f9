"""Precision and recall of mslab.similarity on the planted-copies class (one run, prints a table).

The class (tests/fixtures/similarity/): for each of the labs value_and_grad and logistic_gradients,
8 honest solutions written in different styles, all correct, and 5 planted copies of honest ones
(planted.json names each copy's source): variables renamed; functions reordered; comments and
blank lines added and removed; and two combinations of all three. A pair is right when it is a
copy and its source; every other pair listed is a false positive (13 files: 78 pairs a lab,
5 of them copies).

For each boilerplate subtracted (none; starter + walk-through; starter + walk-through + reference
solution) and each rule (a pair's larger similarity, or its smaller one, against the threshold),
it prints, per threshold, the pairs listed, the true and false positives, precision and recall
over both labs; then the lowest copy's and the highest honest pair's score.

Run: .venv/bin/python bench/bench_similarity.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mslab import similarity  # noqa: E402
from mslab.labs import get_lab  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "similarity"
LABS = ["value_and_grad", "logistic_gradients"]
THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
BOILERPLATES = {
    "none": {"starter": False, "walkthrough": False, "solution": False},
    "starter+walkthrough": {"starter": True, "walkthrough": True, "solution": False},
    "starter+walkthrough+solution": {"starter": True, "walkthrough": True, "solution": True},
}
RULES = {"max": max, "min": min}


def main() -> None:
    planted = json.loads((FIXTURES / "planted.json").read_text())
    print(f"copydetect k={similarity.K}; {', '.join(LABS)}")
    print(
        f"{'boilerplate':30} {'rule':4} {'thr':>4} {'listed':>6} {'TP':>3} {'FP':>3} {'FN':>3} {'prec':>6} {'recall':>6}"
    )
    for bp_name, which in BOILERPLATES.items():
        scored = []  # (lab, a, b, sim_a, sim_b, is_copy)
        started = time.perf_counter()
        for lab in LABS:
            files = {p.name.removesuffix(".py.txt"): p.read_bytes() for p in sorted((FIXTURES / lab).glob("*.py.txt"))}
            copies = {frozenset((copy, source)) for copy, source in planted[lab].items()}
            found = {
                frozenset((p.student, p.other)): p
                for p in similarity.pairs(files, similarity.boilerplate_of(get_lab(lab), **which), threshold=0.0)
            }
            names = sorted(files)
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    key = frozenset((a, b))
                    pair = found.get(key)
                    sims = (pair.similarity, pair.other_similarity) if pair else (0.0, 0.0)
                    scored.append((lab, a, b, *sims, key in copies))
        seconds = time.perf_counter() - started
        total = sum(1 for s in scored if s[5])
        for rule_name, rule in RULES.items():
            for threshold in THRESHOLDS:
                listed = [s for s in scored if rule(s[3], s[4]) >= threshold]
                tp = sum(1 for s in listed if s[5])
                fp = len(listed) - tp
                precision = tp / len(listed) if listed else 1.0
                recall = tp / total
                print(
                    f"{bp_name:30} {rule_name:4} {threshold:4.2f} {len(listed):6} {tp:3} {fp:3} {total - tp:3}"
                    f" {precision:6.3f} {recall:6.3f}"
                )
            low_copy = min((rule(s[3], s[4]), s[0], s[1], s[2]) for s in scored if s[5])
            high_honest = max((rule(s[3], s[4]), s[0], s[1], s[2]) for s in scored if not s[5])
            print(
                f"  {rule_name}: lowest copy {low_copy[0]:.3f} ({low_copy[1]}: {low_copy[2]}/{low_copy[3]}),"
                f" highest honest pair {high_honest[0]:.3f} ({high_honest[1]}: {high_honest[2]}/{high_honest[3]})"
            )
        print(f"  ({seconds:.2f} s for both labs' {len(scored)} pairs)")


if __name__ == "__main__":
    main()
