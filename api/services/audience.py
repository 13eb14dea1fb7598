"""Who is asking: the public, or a caseworker holding a valid token.

Every answer is computed for an :class:`Audience`.  The public never sees a confidential
provider (:func:`geo.providers.public_mask`, which fails closed); a caseworker does.  The
command line reads the token from ``ORIENTER_CASEWORKER_TOKEN``, the API from the
``Authorization: Bearer`` header; both check it here against the configured SHA-256
digests (``ORIENTER_CASEWORKER_TOKEN_HASHES``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.providers import public_mask

__all__ = ["Audience", "audience_of", "bearer_token", "token_is_valid", "visible", "visible_mask"]


class Audience(StrEnum):
    """``public`` (no token, or a wrong one) or ``caseworker`` (a valid token)."""

    public = "public"
    caseworker = "caseworker"


def token_is_valid(token: str | None, hashes: Sequence[str]) -> bool:
    """Constant-time check of a caseworker token against configured SHA-256 hex digests."""
    if not token:
        return False
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    ok = False
    for h in hashes:
        ok |= hmac.compare_digest(digest, h.strip().lower())
    return ok


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if authorization and authorization.startswith("Bearer "):
        return authorization[7:]
    return None


def audience_of(token: str | None, hashes: Sequence[str]) -> Audience:
    """:attr:`Audience.caseworker` for a valid token, else :attr:`Audience.public`."""
    return Audience.caseworker if token_is_valid(token, hashes) else Audience.public


def visible_mask(providers: pd.DataFrame, audience: Audience) -> np.ndarray:
    """Which rows of ``providers`` ``audience`` may see (all for a caseworker)."""
    if audience is Audience.caseworker:
        return np.ones(len(providers), dtype=bool)
    return public_mask(providers)


def visible(providers: gpd.GeoDataFrame, audience: Audience) -> gpd.GeoDataFrame:
    """The rows of ``providers`` ``audience`` may see, as a copy."""
    return providers[visible_mask(providers, audience)].copy()
