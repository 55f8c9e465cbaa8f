"""The errors a veto resolve raises; each carries the HTTP status it answers with."""

from __future__ import annotations


class VetoError(Exception):
    """A resolve that cannot be done; ``status`` is the HTTP answer."""

    status = 400


class VetoNotFoundError(VetoError):
    status = 404


class VetoForbiddenError(VetoError):
    status = 403


class VetoAlreadyResolvedError(VetoError):
    status = 409


__all__ = ["VetoAlreadyResolvedError", "VetoError", "VetoForbiddenError", "VetoNotFoundError"]
