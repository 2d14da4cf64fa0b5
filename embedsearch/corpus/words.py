"""The one word tokeniser shared by word-vector training, text encoding and queries.

It follows GloVe's vocabulary (Stanford's PTB-style tokeniser): text is
Unicode-normalised (NFC, so a decomposed "café" is the composed word the
vectors hold) and lower-cased; words keep inner hyphens and apostrophes
("e-mail", "o'neill"), but English clitics are split off as GloVe's own
tokens ("york's" -> "york", "'s"; "don't" -> "do", "n't"; "can't" -> "ca",
"n't"), and punctuation runs are tokens of their own.

>>> tokenize("New York's men, e-mail! Don't")
['new', 'york', "'s", 'men', ',', 'e-mail', '!', 'do', "n't"]
"""

import re
import unicodedata

_TOKEN = re.compile(r"\w+(?:['\-]\w+)*|[^\w\s]", re.UNICODE)
_CLITIC = re.compile(r"(\w.*?)(n't|'s|'re|'ve|'ll|'d|'m)", re.UNICODE)


def normalize_text(text: str) -> str:
    """NFC with the typographic apostrophe made plain, as GloVe's vocabulary spells words."""
    return unicodedata.normalize("NFC", text).replace("’", "'")


def tokenize(text: str) -> list[str]:
    """Lower-cased word, clitic and punctuation tokens of `text`."""
    text = normalize_text(text).lower()
    if "'" not in text:  # no clitic to split off
        return _TOKEN.findall(text)
    tokens = []
    for token in _TOKEN.findall(text):
        clitic = _CLITIC.fullmatch(token) if "'" in token else None
        tokens.extend(clitic.groups() if clitic else (token,))
    return tokens
