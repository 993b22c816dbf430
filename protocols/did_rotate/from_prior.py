"""DIDComm v2 DID rotation: the ``from_prior`` header, a JWT by which the old DID vouches for
the new one (``iss`` old, ``sub`` new), signed with an authentication key of the old DID."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.errors import RemoteProtocolError
from wallet.didcomm.packing import did_of
from wallet.encoding import dumps_compact, loads_object
from wallet.errors import InputError, MoiError
from wallet.jose import jws
from wallet.keys import PrivateKey

MAX_AGE = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Rotation:
    prior: str  # iss
    new: str  # sub


def sign(prior_kid: str, key: PrivateKey, new_did: str, now: float | None = None) -> str:
    header = {"typ": "JWT", "kid": prior_kid}
    claims = {"sub": new_did, "iss": did_of(prior_kid), "iat": int(now or time.time())}
    return jws.sign_compact(header, dumps_compact(claims).encode("utf-8"), key)


async def verify(
    token: str,
    sender: str,
    resolve_method: Callable[[str], Awaitable[Any]],
    *,
    now: float,
) -> Rotation:
    """Check a ``from_prior`` against the message's sender (who must be its ``sub``)."""
    try:
        parsed = jws.decode_compact(token, max_bytes=16 * 1024)
        claims = loads_object(parsed.payload, max_bytes=16 * 1024, what="from_prior claims")
    except (InputError, MoiError) as err:
        raise RemoteProtocolError(f"from_prior is malformed: {err}", "e.p.msg.from_prior") from err
    iss, sub, iat = claims.get("iss"), claims.get("sub"), claims.get("iat")
    kid = parsed.kid
    if not (isinstance(iss, str) and isinstance(sub, str) and isinstance(kid, str)):
        raise RemoteProtocolError("from_prior needs iss, sub and a kid", "e.p.msg.from_prior")
    if did_of(kid) != iss or iss == sub:
        raise RemoteProtocolError("from_prior's key is not the prior DID's", "e.p.msg.from_prior")
    if did_of(sub) != did_of(sender):
        raise RemoteProtocolError(
            "from_prior names another DID than the sender", "e.p.msg.from_prior"
        )
    if isinstance(iat, int) and not now - MAX_AGE <= iat <= now + 300:
        raise RemoteProtocolError("from_prior is stale or from the future", "e.p.msg.from_prior")
    try:
        method = await resolve_method(kid)
        jws.verify_compact(parsed, method.public_key)
    except MoiError as err:
        raise RemoteProtocolError(
            f"from_prior does not verify: {err}", "e.p.msg.from_prior"
        ) from err
    return Rotation(prior=iss, new=did_of(sub))
