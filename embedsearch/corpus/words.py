"""The one word tokeniser shared by word-vector training, text encoding and queries.

GloVe's vocabulary is lower-cased and keeps punctuation and contractions as
separate tokens ("don't" -> "do", "n't" in the original, but "don't" also
exists); we lower-case and split on word characters, keeping inner
apostrophes and hyphens, and emit punctuation runs as their own tokens.

>>> tokenize("The King's men, e-mail!")
['the', "king's", 'men', ',', 'e-mail', '!']
"""

import re

_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens of `text`."""
    return _TOKEN.findall(text.lower().replace("’", "'"))
