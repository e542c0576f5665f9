"""mslab: graded MindSpore autodiff labs and a trusted grader.

In a lab's notebook: ``from mslab import check; check()`` checks the saved notebook
(:func:`mslab.notebook.check`).
"""


def check(lab: str | None = None, **options):
    """Check the saved notebook this kernel runs, as `inv lab.check` does (mslab.notebook.check)."""
    from mslab.notebook import check as run

    return run(lab, **options)
