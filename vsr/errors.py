"""The one exception type a user sees: the command line prints its message on one line."""


class VsrError(Exception):
    """A problem with the user's input or environment (bad file, bad flag, missing weights).

    Raise it with a message that says what was wrong and, where possible, what to do.
    The command line prints it as ``vsr: error: <message>`` and exits with status 2;
    library callers catch it like any exception.
    """


def describe_error(error: BaseException) -> str:
    """One line for a failure among many (a clip or an image of a folder): a VsrError's own
    message, anything else's type too, since its message alone may be a bare key or path."""
    return str(error) if isinstance(error, VsrError) else f"{type(error).__name__}: {error}"
