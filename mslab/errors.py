"""The one exception type that user-facing tasks turn into a one-line error."""


class MslabError(Exception):
    """A problem the user can fix: unknown lab, bad target, missing file, broken archive..."""
