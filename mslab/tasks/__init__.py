"""Invoke task modules: thin wiring from the command line to library code."""
