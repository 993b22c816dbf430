"""Invitation records: what this agent invited with, so that the answer finds its way back."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from agent.connections import canonical_did
from wallet.encoding import dumps_compact
from wallet.errors import RecordNotFound
from wallet.storage import Store

CATEGORY = "invitation"


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    id: str
    family: str
    my_did: str  # v2: the inviter DID in `from`; v1: the did:key of the invitation key
    url: str
    invitation: Mapping[str, Any]
    label: str
    multi_use: bool = False
    used: int = 0
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["invitation"] = dict(self.invitation)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvitationRecord:
        return cls(**dict(data))

    def tags(self) -> dict[str, str]:
        return {"family": self.family, "my_did": canonical_did(self.my_did)}

    @property
    def usable(self) -> bool:
        return self.multi_use or self.used == 0

    def use(self) -> InvitationRecord:
        return replace(self, used=self.used + 1)


def encode(record: InvitationRecord) -> bytes:
    return dumps_compact(record.to_json()).encode("utf-8")


async def by_id(store: Store, invitation_id: str) -> InvitationRecord | None:
    try:
        return InvitationRecord.from_json((await store.get(CATEGORY, invitation_id)).json())
    except RecordNotFound:
        return None


async def by_did(store: Store, did: str) -> InvitationRecord | None:
    found = await store.find(CATEGORY, {"my_did": canonical_did(did)}, limit=1)
    return InvitationRecord.from_json(found[0].json()) if found else None
