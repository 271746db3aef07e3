"""The one error of reading an export."""


class ImportFileError(Exception):
    """The file cannot be imported as a whole; the message says why and how to fix it,
    never with a value from the file."""
