"""Errors a user causes (a missing path, a bad flag). Jobs print them as one sentence, no stack trace."""


class UserError(Exception):
    """A mistake in how the job was called; the message is the whole explanation."""
