"""mslab's command line: `inv --list`. Each task module wires arguments to library code in mslab/."""

from invoke import Collection

from mslab.tasks import doctor, grading, image, lab

ns = Collection()
ns.add_collection(lab.ns)
ns.add_collection(grading.ns)
ns.add_collection(image.ns)
ns.add_task(doctor.doctor)
