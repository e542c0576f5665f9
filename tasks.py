"""mslab's command line: `inv --list`. Each task module wires arguments to library code in mslab/."""

from invoke import Collection

from mslab.tasks import grading, lab

ns = Collection()
ns.add_collection(lab.ns)
ns.add_task(grading.grade)
