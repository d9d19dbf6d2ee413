"""Errors a user causes (a missing path, a bad flag). Jobs print them as one sentence, no stack trace.

Dependency-free (standard library only): model/ raises it too (corpus/__init__.py).
"""


class UserError(Exception):
    """A mistake in how the job was called; the message is the whole explanation."""
