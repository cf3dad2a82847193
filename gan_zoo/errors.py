"""One exception type for mistakes a user can fix.

Command-line entry points catch `UserError` and print its message without a
traceback, so every message must name the problem and the fix.
"""


class UserError(Exception):
    """A bad flag, a missing file or bad data: the message tells the user what to do."""
