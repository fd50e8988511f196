"""The one exception type a user sees: the command line prints its message on one line."""


class VsrError(Exception):
    """A problem with the user's input or environment (bad file, bad flag, missing weights).

    Raise it with a message that says what was wrong and, where possible, what to do.
    The command line prints it as ``vsr: error: <message>`` and exits with status 2;
    library callers catch it like any exception.
    """
