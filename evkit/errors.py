"""The evkit exception tree.

EvkitError
├── ConfigError          bad connection details, options or files given by the user
├── DatasetError         a directory with no Parquet, missing required columns, an empty dataset
├── StoreError           the output directory cannot be written (unwritable, full)
├── SourceError          a broker or device cannot be reached or dropped us
│   └── AuthError        credentials refused (a token-based capture re-fetches its details)
└── ControlError         a setting could not be applied
    ├── ValidationError  refused before sending: nothing was sent; the message says what is allowed
    ├── RejectedError    the device answered with an error
    └── NoAnswerError    no confirmation within the timeout
"""

from __future__ import annotations


class EvkitError(Exception):
    """Base of every error evkit raises on purpose."""


class _Sentence:
    """A user's mistake: in a notebook IPython shows only the sentence, not a traceback into evkit."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ConfigError(_Sentence, EvkitError):
    """The user's options, URL or details file are unusable."""


class DatasetError(_Sentence, EvkitError):
    """A dataset directory cannot be analysed as asked."""


class StoreError(EvkitError):
    """Rows could not be written durably."""


class SourceError(EvkitError):
    """A broker or device connection failed."""


class AuthError(SourceError):
    """The broker or API refused the credentials."""


class ControlError(EvkitError):
    """A setting was not applied."""


class ValidationError(_Sentence, ControlError):
    """A value failed validation; it was never sent."""


class RejectedError(ControlError):
    """The device refused the setting."""


class NoAnswerError(ControlError):
    """The device did not confirm within the timeout."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none): what a sentence quotes
    of an error from a library (Polars, the object store), whose messages run to many lines."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


__all__ = [
    "AuthError",
    "ConfigError",
    "ControlError",
    "DatasetError",
    "EvkitError",
    "NoAnswerError",
    "RejectedError",
    "SourceError",
    "StoreError",
    "ValidationError",
    "first_line",
]
