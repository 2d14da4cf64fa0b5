"""Library errors in the CLI's words: Python argument names become the options that set them.

Lower layers name the Python argument in backticks (`overwrite=True`,
`recall`, `doc_field='source'`); a command-line user never typed those, so
the CLI rewrites each one it knows into its option (--overwrite, --recall,
--doc-field source). Backticked text it does not know is left as it is.

>>> cli_message("index x already exists: replace it with `overwrite=True`")
'index x already exists: replace it with --overwrite'
"""

from __future__ import annotations

import re

OPTIONS = {
    "overwrite": "--overwrite", "recall": "--recall", "max_memory": "--max-memory",
    "index_params": "--param", "index_type": "--index-type", "context": "--context",
    "resume": "--resume", "min_count": "--min-count", "doc_field": "--doc-field",
    "key_field": "--key-field", "text_field": "--text-field", "unit": "--unit", "k": "-k",
    "method": "--method", "strict": "--strict", "vector_dtype": "--vector-dtype",
    "restrict_vocab": "--restrict", "corpus": "--corpus", "vectors": "--vectors",
    "collection": "--collection", "engine": "--ray", "mode": "--mode", "fusion": "--fusion",
    "alpha": "--alpha", "chunk_words": "--chunk-words", "chunk_overlap": "--chunk-overlap",
}
_ARGUMENT = re.compile(r"`([a-z_]+)(?:=([^`]*))?`")


def cli_message(message: str) -> str:
    """`message` with every known backticked Python argument replaced by its option."""
    def option(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if name not in OPTIONS:
            return match.group(0)
        if value is None or value == "True":
            return OPTIONS[name]
        return f"{OPTIONS[name]} {value.strip(chr(39) + chr(34))}"

    return _ARGUMENT.sub(option, message)
