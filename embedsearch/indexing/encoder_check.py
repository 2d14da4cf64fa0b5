"""The one place an index's encoder is loaded again, and checked against the index.

An index's vectors are only comparable with new ones made by the very same
encoder. The manifest records the encoder's spec (how to load it) and its
fingerprint (a digest of its weights and configuration); every operation
that encodes for an existing index (a text query, `add`, `rebuild`) loads
the encoder through `load_index_encoder`, which refuses a different
dimension or fingerprint, unless asked not to.

    encoder = load_index_encoder(index.manifest, index.directory)
"""

from __future__ import annotations

from pathlib import Path

from ..encoders import Encoder, load_encoder
from ..errors import EncoderChangedError, EncoderError
from ..index import Manifest


def load_index_encoder(manifest: Manifest, directory: str | Path, *,
                       check: bool = True) -> Encoder:
    """The encoder `manifest` was built with, loaded from its spec and checked.

    Raises `EncoderError` if it cannot be loaded, and with `check` (`rebuild`
    turns it off: it re-encodes whatever changed) another `EncoderError` if it
    gives another dimension or `EncoderChangedError` if its fingerprint differs.
    """
    recorded = manifest.encoder
    try:
        encoder = load_encoder(recorded.spec)
    except EncoderError as error:
        raise EncoderError(f"cannot load the encoder of {directory} ({recorded.name}, "
                           f"{recorded.spec}): {error}") from None
    if check and encoder.dim != manifest.dim:
        raise EncoderError(f"dimension mismatch: encoder {recorded.name} now gives {encoder.dim} "
                           f"but {directory} holds {manifest.dim}: rebuild the index")
    if check and encoder.fingerprint() != recorded.fingerprint:
        raise EncoderChangedError(directory, recorded.name, recorded.fingerprint,
                                  encoder.fingerprint())
    return encoder
