"""One exception type for mistakes a user can fix.

Command-line entry points catch `UserError` and print its message without a
traceback, so every message must name the problem and the fix.
"""


class UserError(Exception):
    """A bad flag, a missing file or bad data: the message tells the user what to do."""


class TrainingInterrupted(Exception):
    """SIGINT / SIGTERM stopped training after a checkpoint of the current step was saved."""

    def __init__(self, signal_name, path, step):
        self.exit_code = 130 if signal_name == "SIGINT" else 143
        super().__init__(f"{signal_name}: saved checkpoint {path} at step {step}; run the same "
                         "command again to resume from it.")


class StoppedBeforeTraining(BaseException):
    """SIGINT / SIGTERM arrived while a command was still starting (importing, loading data),
    before it wrote anything: it stops at once. A BaseException, as KeyboardInterrupt is, so
    no `except Exception` on the way (a data loader's fallback) can swallow it."""

    def __init__(self, signal_name):
        self.exit_code = 130 if signal_name == "SIGINT" else 143
        super().__init__(f"{signal_name} before training began; the run dir is as it was. "
                         "Run the same command again to start.")
