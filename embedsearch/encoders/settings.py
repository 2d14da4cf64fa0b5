"""Config fields a user may set: their help text and bounds, declared once beside the field.

The CLI makes an option of every `setting` field (`cli/config_options.py`);
`check_settings` checks the same bounds for Python callers.

>>> from dataclasses import dataclass
>>> @dataclass
... class Sizes:
...     dim: int = setting(64, "Embedding dimension.", minimum=1)
>>> check_settings(Sizes(dim=0))
Traceback (most recent call last):
...
embedsearch.errors.EncoderError: Sizes.dim must be at least 1, got 0
"""

from __future__ import annotations

from dataclasses import field, fields

from ..errors import EncoderError


def setting(default, help: str, *, minimum: float | None = None, maximum: float | None = None):
    """A dataclass field a user may set: its help text and bounds (the CLI makes an option of it).

    `check_settings` checks the bounds for Python callers; the CLI gives them
    to its option, so a bad value fails before any work, naming the option.
    """
    return field(default=default, metadata={"help": help, "min": minimum, "max": maximum})


def check_settings(config, error: type[Exception] = EncoderError) -> None:
    """`error` naming the first `setting` field of `config` outside its bounds."""
    for item in fields(config):
        value, low, high = (getattr(config, item.name), item.metadata.get("min"),
                            item.metadata.get("max"))
        if low is not None and value < low or high is not None and value > high:
            bounds = (f"at least {low}" if high is None else f"at most {high}" if low is None
                      else f"in [{low}, {high}]")
            raise error(f"{type(config).__name__}.{item.name} must be {bounds}, got {value!r}")
