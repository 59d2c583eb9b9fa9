"""The exceptions hpstudy raises for problems a user can fix.

The command line catches `HPStudyError`, prints its message on one line and exits with code 2.
"""


class HPStudyError(Exception):
    """A problem with the user's input, files or environment; the message says what and how."""


class ConfigError(HPStudyError, ValueError):
    """A hyperparameter, study file or command-line value is invalid."""


class DataError(HPStudyError, OSError):
    """A data set is missing, truncated, corrupt or fails its checksum."""
