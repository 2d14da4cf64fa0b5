"""Error types that the CLI turns into one clear line and a non-zero exit.

Every error a user can cause (a bad path, an unknown word, a malformed filter)
is an `EmbedsearchError`; anything else is a bug and keeps its traceback.
"""


class EmbedsearchError(Exception):
    """Base class: the message is one line that says what was wrong and what to do."""


class InputError(EmbedsearchError):
    """The user's input (a file, an option, a filter) cannot be used."""


class FilterError(InputError):
    """A filter (JSON or SQL) is malformed, refused, or ran too long."""


class UnknownWordsError(EmbedsearchError):
    """One or more words are not in the vocabulary; `words` lists them."""

    def __init__(self, words, where="the vocabulary"):
        self.words = list(words)
        quoted = ", ".join(repr(w) for w in self.words)
        super().__init__(f"not in {where}: {quoted}")


class IndexNotFoundError(EmbedsearchError):
    """No index at the given name or path."""


class IndexCorruptError(EmbedsearchError):
    """An index directory exists but its parts disagree or cannot be read."""


class IndexLockedError(EmbedsearchError):
    """Another process is writing the same index."""


class EncoderError(EmbedsearchError):
    """An encoder cannot be loaded, or cannot encode what it was given."""


class EncoderChangedError(EncoderError):
    """The encoder an index was built with has changed since (same spec, other fingerprint).

    Its old vectors and new ones are not comparable: the index must be re-encoded.
    """

    def __init__(self, directory, encoder_name: str, recorded: str, current: str):
        self.directory, self.recorded, self.current = directory, recorded, current
        super().__init__(f"encoder {encoder_name} changed since {directory} was built "
                         f"(fingerprint {recorded} -> {current}): its vectors no longer match "
                         "new ones; rebuild the index to re-encode its items")
