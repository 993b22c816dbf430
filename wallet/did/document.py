"""A parsed, normalised DID document.

:meth:`DIDDocument.parse` takes a document as peers send it (relative or absolute ids,
methods referenced or embedded in relationships, several key suites, DIDComm v1 and v2
services in their various shapes) and gives one immutable, typed view with absolute ids.
Parsed documents are shared through the resolver's cache, so nothing in them is mutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidDID, KeyNotFound
from ._util import MAX_REF, absolute, preview, text, text_list
from .errors import InvalidDIDDocument
from .method import UnsupportedMethod, VerificationMethod, parse_method
from .peer2 import legacy_key_fragment, peer2_to_peer3
from .peer4 import bound_short_form
from .service import Service, parse_service
from .url import parse_did

__all__ = ["RELATIONSHIPS", "DIDDocument", "Service", "VerificationMethod"]

#: Most verification methods (declared and embedded) and services in one document.
MAX_METHODS = 64
MAX_SERVICES = 64
#: Verification relationships, as DID Core names them.
RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
)
_DEFAULT_CONTEXT = ("https://www.w3.org/ns/did/v1",)


class DIDDocument:
    """An immutable DID document; every id in it is absolute."""

    __slots__ = (
        "_by_id",
        "_equivalent",
        "_relationships",
        "_unsupported",
        "also_known_as",
        "context",
        "id",
        "services",
        "verification_methods",
    )

    id: str
    context: tuple[str, ...]
    also_known_as: tuple[str, ...]
    verification_methods: tuple[VerificationMethod, ...]
    services: tuple[Service, ...]

    def __init__(
        self,
        id: str,
        *,
        verification_methods: tuple[VerificationMethod, ...] = (),
        relationships: Mapping[str, tuple[str, ...]] | None = None,
        services: tuple[Service, ...] = (),
        also_known_as: tuple[str, ...] = (),
        context: tuple[str, ...] = _DEFAULT_CONTEXT,
        unsupported: frozenset[str] = frozenset(),
        equivalent_ids: frozenset[str] | None = None,
    ) -> None:
        self.id = id
        self.context = context
        self.also_known_as = also_known_as
        self.verification_methods = verification_methods
        self.services = services
        rel = relationships or {}
        self._relationships = {name: tuple(rel.get(name, ())) for name in RELATIONSHIPS}
        self._by_id = {vm.id: vm for vm in verification_methods}
        self._unsupported = unsupported
        self._equivalent = (
            equivalent_ids if equivalent_ids is not None else _equivalent_ids(id, also_known_as)
        )

    # -- parsing ------------------------------------------------------------------------------

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, did: str | None = None) -> DIDDocument:
        """Read a document. ``did``, when given, is the DID that was resolved: the
        document's ``id`` must equal it (or is taken from it when absent)."""
        if not isinstance(raw, Mapping):
            raise InvalidDIDDocument("a DID document must be a JSON object")
        doc_id = raw.get("id", did)
        if doc_id is None:
            raise InvalidDIDDocument("the document has no id")
        doc_id = text(doc_id, "the document id", MAX_REF)
        try:
            parse_did(doc_id)
        except InvalidDID as err:
            raise InvalidDIDDocument(f"the document id {preview(doc_id)} is not a DID") from err
        if did is not None and doc_id != did:
            raise InvalidDIDDocument(
                f"the document id {preview(doc_id)} is not the DID resolved, {preview(did)}"
            )

        methods: dict[str, VerificationMethod] = {}
        unsupported: set[str] = set()

        def add(entry: Any, where: str) -> str | None:
            try:
                vm = parse_method(entry, doc_id, where)
            except UnsupportedMethod:
                # parse_method checked the id before it looked at the type.
                skipped = absolute(entry["id"], doc_id, f"{where} id")
                unsupported.add(skipped)
                if len(methods) + len(unsupported) > MAX_METHODS:
                    too_many = f"the document has over {MAX_METHODS} methods"
                    raise InvalidDIDDocument(too_many) from None
                return skipped
            known = methods.get(vm.id)
            if known is not None and known != vm:
                raise InvalidDIDDocument(f"two different methods have the id {preview(vm.id)}")
            methods[vm.id] = vm
            if len(methods) + len(unsupported) > MAX_METHODS:
                raise InvalidDIDDocument(f"the document has over {MAX_METHODS} methods")
            return vm.id

        # "publicKey" is the pre-DID-Core name, still in Aries-era documents.
        for name in ("verificationMethod", "publicKey"):
            for i, entry in enumerate(_entries(raw.get(name), name, MAX_METHODS)):
                add(entry, f"{name}[{i}]")

        relationships: dict[str, tuple[str, ...]] = {}
        for name in RELATIONSHIPS:
            refs: list[str] = []
            for i, entry in enumerate(_entries(raw.get(name), name, MAX_METHODS)):
                if isinstance(entry, dict) and "publicKey" in entry and _no_material(entry):
                    # Aries RFC 0067: {"type": "...Authentication2018", "publicKey": ref}
                    entry = entry["publicKey"]
                if isinstance(entry, str):
                    ref = absolute(text(entry, f"{name}[{i}]", MAX_REF), doc_id, f"{name}[{i}]")
                else:
                    ref = add(entry, f"{name}[{i}]")
                    if ref is None:
                        continue
                refs.append(ref)
            relationships[name] = tuple(refs)

        also_known_as = text_list(raw.get("alsoKnownAs"), "alsoKnownAs", MAX_REF)
        equivalent = _equivalent_ids(doc_id, also_known_as)
        for name, refs in relationships.items():
            for ref in refs:
                owner = ref.split("#", 1)[0]
                if owner in equivalent and ref not in methods and ref not in unsupported:
                    raise InvalidDIDDocument(
                        f"{name} refers to {preview(ref)}, which the document does not define"
                    )

        services: list[Service] = []
        for i, entry in enumerate(_entries(raw.get("service"), "service", MAX_SERVICES)):
            services.extend(parse_service(entry, doc_id, i))
            if len(services) > MAX_SERVICES:
                raise InvalidDIDDocument(f"the document has over {MAX_SERVICES} service endpoints")

        context = raw.get("@context")
        if isinstance(context, str):
            context = [context]
        context_t: tuple[str, ...] = ()
        if isinstance(context, list):
            # Inline JSON-LD context objects mean nothing to moi; only URLs are kept.
            context_t = text_list([c for c in context if isinstance(c, str)], "@context")
        return cls(
            doc_id,
            verification_methods=tuple(methods.values()),
            relationships=relationships,
            services=tuple(services),
            also_known_as=also_known_as,
            context=context_t or _DEFAULT_CONTEXT,
            unsupported=frozenset(unsupported),
            equivalent_ids=equivalent,
        )

    # -- views --------------------------------------------------------------------------------

    @property
    def authentication(self) -> tuple[str, ...]:
        return self._relationships["authentication"]

    @property
    def assertion_method(self) -> tuple[str, ...]:
        return self._relationships["assertionMethod"]

    @property
    def key_agreement(self) -> tuple[str, ...]:
        return self._relationships["keyAgreement"]

    @property
    def capability_invocation(self) -> tuple[str, ...]:
        return self._relationships["capabilityInvocation"]

    @property
    def capability_delegation(self) -> tuple[str, ...]:
        return self._relationships["capabilityDelegation"]

    @property
    def equivalent_ids(self) -> frozenset[str]:
        """This DID and the ones provably the same: did:peer:2 ↔ :3 (a hash of it) and a
        did:peer:4 long form ↔ its short form."""
        return self._equivalent

    def method(self, kid: str) -> VerificationMethod:
        """The method with this id: absolute (this DID or an equivalent one) or ``#frag``."""
        if not isinstance(kid, str) or len(kid) > MAX_REF:
            raise KeyNotFound("a key id must be a string of bounded length")
        vm = self._by_id.get(kid)
        if vm is not None:
            return vm
        owner, sep, fragment = kid.partition("#")
        if not sep or not fragment:
            raise KeyNotFound(f"{preview(kid)} has no fragment naming a method")
        owner = owner.split("?", 1)[0]
        if owner and owner not in self._equivalent:
            raise KeyNotFound(f"{preview(kid)} belongs to another DID than {preview(self.id)}")
        absolute_id = f"{self.id}#{fragment}"
        vm = self._by_id.get(absolute_id)
        if vm is not None:
            return vm
        if absolute_id in self._unsupported:
            raise KeyNotFound(f"{preview(kid)} uses a key type moi does not support")
        if self.id.startswith("did:peer:2"):
            # peerdid 0.5.2 named did:peer:2 keys by 8 characters of their multibase.
            for candidate in self.verification_methods:
                if legacy_key_fragment(candidate.public_key) == fragment:
                    return candidate
        raise KeyNotFound(f"{preview(self.id)} has no verification method {preview(kid)}")

    def _keys(self, refs: tuple[str, ...]) -> list[VerificationMethod]:
        return [self._by_id[ref] for ref in refs if ref in self._by_id]

    def authentication_keys(self) -> list[VerificationMethod]:
        """Methods for authentication that this document defines (references to other
        DIDs' methods and unsupported suites are left out)."""
        return self._keys(self.authentication)

    def assertion_keys(self) -> list[VerificationMethod]:
        return self._keys(self.assertion_method)

    def key_agreement_keys(self) -> list[VerificationMethod]:
        return self._keys(self.key_agreement)

    def didcomm_services(self) -> list[Service]:
        """DIDComm services (v2 DIDCommMessaging and v1 did-communication), in document
        order, v1 ones stably ordered by their ``priority``."""
        found = [s for s in self.services if s.is_didcomm]
        return sorted(found, key=lambda s: s.priority)

    def service(self, sid: str) -> list[Service]:
        """The endpoints of the service with this id (absolute or ``#frag``)."""
        full = self.id + sid if sid.startswith("#") else sid
        return [s for s in self.services if s.id == full]

    def to_json(self) -> dict[str, Any]:
        """The normalised document: absolute ids, methods declared once and referenced,
        services in their current form."""
        out: dict[str, Any] = {"@context": list(self.context), "id": self.id}
        if self.also_known_as:
            out["alsoKnownAs"] = list(self.also_known_as)
        if self.verification_methods:
            out["verificationMethod"] = [vm.to_json() for vm in self.verification_methods]
        for name in RELATIONSHIPS:
            # Methods of unsupported suites are left out, so are references to them.
            refs = [r for r in self._relationships[name] if r not in self._unsupported]
            if refs:
                out[name] = refs
        if self.services:
            out["service"] = [s.to_json() for s in self.services]
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DIDDocument):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"DIDDocument({preview(self.id)}, {len(self.verification_methods)} methods, "
            f"{len(self.services)} services)"
        )


def _entries(value: Any, name: str, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidDIDDocument(f"{name} must be a list")
    if len(value) > limit:
        raise InvalidDIDDocument(f"{name} has {len(value)} entries, over the limit of {limit}")
    return value


def _no_material(entry: Mapping[str, Any]) -> bool:
    return not any(k in entry for k in ("publicKeyMultibase", "publicKeyBase58", "publicKeyJwk"))


def _equivalent_ids(did: str, also_known_as: tuple[str, ...]) -> frozenset[str]:
    ids = {did}
    if did.startswith("did:peer:2"):
        ids.add(peer2_to_peer3(did))
    elif did.startswith("did:peer:4"):
        short = bound_short_form(did)
        if short is not None:
            ids.add(short)
        for alias in also_known_as:
            if bound_short_form(alias) == did:
                ids.add(alias)
    elif did.startswith("did:peer:3"):
        for alias in also_known_as:
            if alias.startswith("did:peer:2") and peer2_to_peer3(alias) == did:
                ids.add(alias)
    return frozenset(ids)
