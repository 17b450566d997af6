# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The package's errors: one base, so that the command line can report any of them in one line.

Each subclass also derives from the built-in error it refines (an unknown name is a KeyError, a bad
configuration a ValueError), so that callers that catch those keep working.
"""

from __future__ import annotations

__all__ = ['ConfigError', 'RejectedInputError', 'SpliteeError', 'UnknownNameError']


class SpliteeError(Exception):
    """Base of the errors splitee_ros raises on purpose, with a message meant for a person."""


class UnknownNameError(SpliteeError, KeyError):
    """A name (a family, split point, codec, stage kind, device profile, topic, ...) that is not known here."""

    def __str__(self) -> str:
        """The message itself (KeyError would quote it)."""
        return str(self.args[0]) if self.args else ''


class ConfigError(SpliteeError, ValueError):
    """A configuration (YAML, options, parameters) that cannot work, naming what is wrong."""


class RejectedInputError(SpliteeError, ValueError):
    """Input from outside (an image, a frame, a request, an envelope, a seal) refused; `reason` is its counter."""

    def __init__(self, reason: str, detail: str) -> None:
        """Keep the reason code; the message is `reason: detail`."""
        super().__init__(f'{reason}: {detail}')
        self.reason = reason
