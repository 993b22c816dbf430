"""The holder's credential wallet: store, list, search, select, preview and present.

    holder = Holder(wallet)
    stored = await holder.store(text)                   # verified first; refused if bad
    evaluation = await holder.preselect(definition)     # one indexed query, then PEX
    preview = await holder.preview(stored.id, disclose=["age_over_18"], audience=verifier)
    presentation = await holder.present(stored.id, disclose=["age_over_18"],
                                        nonce=nonce, audience=verifier)

A presentation is bound to the holder: an SD-JWT VC gets a KB-JWT signed with the key its
``cnf`` names; a Data Integrity credential goes into a ``VerifiablePresentation`` whose proof
(purpose ``authentication``, ``challenge`` = nonce, ``domain`` = audience) is made with an
authentication key of the holder's DID; a vc+jwt goes into a ``vp+jwt`` (``nonce``, ``aud``).
Both nonce and audience are required: moi does not make presentations that can be replayed
to anyone. :meth:`Holder.preview` says, before anything is produced, exactly which claims a
presentation would disclose and to whom; only SD-JWT credentials can withhold claims, and
the others refuse ``disclose`` rather than silently showing everything.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from wallet.did import ResolverRegistry
from wallet.encoding import loads_object
from wallet.errors import DuplicateRecord, InputError, MoiError, RecordNotFound, TooLargeError
from wallet.keys import KeyType, PrivateKey, PublicKey
from wallet.storage import Store

from .contexts import CREDENTIALS_V1, CREDENTIALS_V2, DATA_INTEGRITY_V2
from .data_integrity import add_proof
from .di_jcs import jcs
from .did_keys import AUTHENTICATION, NoSigningKey, own_signing_key, require_own_did
from .errors import CredentialError, HolderBindingError, MalformedCredential, PresentationError
from .formats import (
    CRYPTOSUITES,
    CredentialFormat,
    sd_jwt_id,
)
from .holder_preview import DisclosurePreview, preview_disclosure
from .holder_records import CATEGORY, StoredCredential, rewrite_query
from .model import CredentialTooLarge, parse_credential
from .pex import Candidate, Evaluation, Matcher, PresentationDefinition, evaluate
from .pex_query import query_for
from .sd_jwt_core import decode_jwt
from .sd_jwt_holder import HeldSdJwt
from .status_fetch import StatusListFetcher
from .vc_jose import present_vp_jwt
from .verifier import verify
from .verifier_report import ISSUER, SIGNATURE, STATUS, VALIDITY

__all__ = [
    "DisclosurePreview",
    "DuplicateCredential",
    "Holder",
    "StoredCredential",
    "UnsupportedCredentialFormat",
]

_JWT_KEYS = frozenset({KeyType.ED25519, KeyType.P256})
#: Candidates read at a time when one match per descriptor is enough (``preselect(first=)``):
#: a few first (the oldest usually answers), then more per read while none does.
PRESELECT_PAGES = (4, 16, 64)
#: Ed25519Signature2020 / 2018 proofs sign the RDF Dataset Canonicalization of the credential,
#: as eddsa-rdfc-2022 (their successor) does: the wallet keeps such credentials as di-rdfc,
#: their proof type in ``pex``. They are what ACA-Py 1.7 issues over issue-credential 2.0.
_LEGACY_KEPT_AS = {"di-legacy": CredentialFormat.DI_RDFC.value}


class UnsupportedCredentialFormat(CredentialError):
    """The holder keeps di-jcs, di-rdfc, vc-jwt and sd-jwt credentials only."""


class DuplicateCredential(CredentialError, DuplicateRecord):
    """Another credential with the same id is already held."""


class HolderWallet(Protocol):
    """The wallet features the holder uses (``wallet.Wallet`` has them)."""

    store: Store
    resolver: ResolverRegistry

    async def secret_for(self, kid: str) -> PrivateKey | None: ...

    async def get_did(self, did: str) -> Any: ...


class Holder:
    """Credentials held in one wallet."""

    def __init__(self, wallet: HolderWallet) -> None:
        self.wallet = wallet

    # -- storing ------------------------------------------------------------------------------

    async def store(
        self,
        data: str | bytes | Mapping[str, Any],
        *,
        now: datetime | None = None,
        status_fetcher: StatusListFetcher | None = None,
    ) -> StoredCredential:
        """Verify a credential and keep it; a bad one raises its precise error, stores nothing.

        The status is checked only when ``status_fetcher`` is given. Storing the same
        credential twice returns the stored one.
        """
        stored = await self._verified(data, now or datetime.now(UTC), status_fetcher)
        return await _add(self.wallet.store, stored, look_first=False)

    async def store_many(
        self,
        items: Iterable[str | bytes | Mapping[str, Any]],
        *,
        now: datetime | None = None,
        status_fetcher: StatusListFetcher | None = None,
    ) -> list[StoredCredential]:
        """:meth:`store` for many credentials (an import): every one is verified first, then
        all are stored in one transaction -- one bad credential and none is stored."""
        when = now or datetime.now(UTC)
        verified = [await self._verified(item, when, status_fetcher) for item in items]
        async with self.wallet.store.transaction() as tx:
            return [await _add(tx, stored, look_first=True) for stored in verified]

    async def _verified(
        self,
        data: str | bytes | Mapping[str, Any],
        when: datetime,
        status_fetcher: StatusListFetcher | None,
    ) -> StoredCredential:
        secured = _secured_form(data)
        report = await verify(
            secured, now=when, resolver=self.wallet.resolver, status_fetcher=status_fetcher
        )
        if report.presentation:
            raise PresentationError("this is a presentation; store the credential itself")
        required = [SIGNATURE, ISSUER, VALIDITY] + ([STATUS] if status_fetcher else [])
        for entry, err in zip(report.errors, report.exceptions, strict=True):
            if entry["check"] in required:
                raise err
        if report.checks[SIGNATURE] != "ok" or report.checks[ISSUER] != "ok":
            raise CredentialError("the credential's proof and issuer could not be verified")
        try:
            fmt = CredentialFormat(_LEGACY_KEPT_AS.get(report.format or "", report.format or ""))
        except ValueError:
            raise UnsupportedCredentialFormat(
                f"moi keeps di-jcs, di-rdfc, vc-jwt and sd-jwt credentials, not {report.format}"
            ) from None
        return _describe(fmt, secured, report, int(time.time()))

    async def get(self, credential_id: str) -> StoredCredential:
        _check_id(credential_id)
        try:
            record = await self.wallet.store.get(CATEGORY, credential_id)
        except RecordNotFound:
            raise RecordNotFound(f"no credential {credential_id[:100]!r} is held") from None
        return StoredCredential.from_record(record)

    async def delete(self, credential_id: str) -> None:
        _check_id(credential_id)
        try:
            await self.wallet.store.delete(CATEGORY, credential_id)
        except RecordNotFound:
            raise RecordNotFound(f"no credential {credential_id[:100]!r} is held") from None

    async def list(
        self, query: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> list[StoredCredential]:
        """Held credentials, oldest first; ``query`` is a tag query (see :meth:`search`)."""
        records = await self.wallet.store.find(
            CATEGORY, rewrite_query(query) if query else None, limit=limit, order_by="~stored"
        )
        return [StoredCredential.from_record(r) for r in records]

    async def search(
        self,
        *,
        types: Sequence[str] = (),
        issuer: str | None = None,
        format: CredentialFormat | str | None = None,
        subject: str | None = None,
        vct: str | None = None,
    ) -> list[StoredCredential]:
        """Held credentials having every given type, and the issuer / format / subject given."""
        query: dict[str, Any] = {f"type:{t}": "1" for t in types}
        if issuer is not None:
            query[f"issuer:{issuer}"] = "1"
        if format is not None:
            query["kind"] = CredentialFormat(format).value
        if subject is not None:
            query["subject"] = subject
        if vct is not None:
            query["vct"] = vct
        return await self.list(query)

    async def preselect(
        self,
        definition: PresentationDefinition | Mapping[str, Any],
        *,
        first: bool = False,
        held: dict[str, StoredCredential] | None = None,
    ) -> Evaluation:
        """Match a presentation definition against the credentials its tag query selects.

        Only the credentials that could match are read (one indexed query), so the cost
        follows the number of candidates, not the size of the wallet. With ``first``, one
        match per descriptor is enough (what :meth:`Evaluation.select` takes without
        choices): candidates are read a page at a time, oldest first, until each descriptor
        has one, so the cost follows how soon a match comes, not how many credentials match.
        ``held``, if given, receives every credential read, by id, for the caller to preview
        and present without reading it again.
        """
        if not isinstance(definition, PresentationDefinition):
            definition = PresentationDefinition.parse(definition)
        query = query_for(definition)
        tags = rewrite_query(query) if query else None
        store = self.wallet.store
        if not first:
            return evaluate(definition, _candidates(await store.find(CATEGORY, tags), held))
        matcher = Matcher(definition, first=True)
        offset = pages = 0
        while True:
            size = PRESELECT_PAGES[min(pages, len(PRESELECT_PAGES) - 1)]
            # Insertion order: the order a full read gives, so the same credential is picked.
            page = await store.find(CATEGORY, tags, limit=size, offset=offset)
            matcher.add(_candidates(page, held))
            offset, pages = offset + len(page), pages + 1
            if matcher.complete or len(page) < size:
                break
        evaluation = matcher.result()
        if pages > 1 and not evaluation.satisfied:
            # Pages read at different moments can miss a credential (one deleted between
            # two reads moves the rest up by one): before saying nothing answers, one read
            # of all of them, as without ``first``.
            return evaluate(definition, _candidates(await store.find(CATEGORY, tags), held))
        return evaluation

    # -- presenting ---------------------------------------------------------------------------

    async def preview(
        self,
        credential_id: str,
        *,
        disclose: Iterable[str | Sequence[str | int | None]] = (),
        holder: str | None = None,
        audience: str | None = None,
    ) -> DisclosurePreview:
        """Exactly what :meth:`present` would disclose, and to whom; nothing is signed."""
        stored = await self.get(credential_id)
        return preview_disclosure(stored, list(disclose), holder or stored.subject, audience)

    async def present(
        self,
        credential_id: str,
        *,
        disclose: Iterable[str | Sequence[str | int | None]] = (),
        holder: str | None = None,
        nonce: str,
        audience: str,
        now: datetime | None = None,
    ) -> str | dict[str, Any]:
        """A presentation of one held credential, bound to ``holder`` (default: its subject),
        answering the verifier's ``nonce`` and ``audience``."""
        _check_binding(nonce, audience)
        stored = await self.get(credential_id)
        return await self.present_held(
            stored, disclose=disclose, holder=holder, nonce=nonce, audience=audience, now=now
        )

    async def present_held(
        self,
        stored: StoredCredential,
        *,
        disclose: Iterable[str | Sequence[str | int | None]] = (),
        holder: str | None = None,
        nonce: str,
        audience: str,
        now: datetime | None = None,
    ) -> str | dict[str, Any]:
        """:meth:`present` for a credential already read from this wallet (by
        :meth:`get` or :meth:`preselect`), which is not read again."""
        _check_binding(nonce, audience)
        paths = list(disclose)
        holder_did = holder or stored.subject
        # Read once, for the preview's refusals and for the presentation.
        sd_jwt = (
            HeldSdJwt.parse(stored.serialize())
            if stored.format is CredentialFormat.SD_JWT
            else None
        )
        preview_disclosure(stored, paths, holder_did, audience, sd_jwt=sd_jwt)  # same refusals
        if holder_did is None:
            raise HolderBindingError("the credential names no subject; say which DID presents it")
        await require_own_did(self.wallet, holder_did)
        when = now or datetime.now(UTC)
        resolver = self.wallet.resolver
        if sd_jwt is not None:
            held = sd_jwt
            bound = _cnf_key(held.claims)
            try:
                _, key = await own_signing_key(
                    self.wallet,
                    resolver,
                    holder_did,
                    AUTHENTICATION,
                    public=bound,
                    key_types=_JWT_KEYS,
                )
            except NoSigningKey as err:
                raise HolderBindingError(
                    f"the credential is bound to a key that {holder_did[:80]} does not hold"
                ) from err
            return held.present(
                paths, holder_key=key, nonce=nonce, aud=audience, iat=int(when.timestamp())
            )
        if holder_did != stored.subject:
            raise HolderBindingError(
                f"the credential is about {str(stored.subject)[:80]}, not {holder_did[:80]}"
            )
        if stored.format is CredentialFormat.VC_JWT:
            vm, key = await own_signing_key(
                self.wallet, resolver, holder_did, AUTHENTICATION, key_types=_JWT_KEYS
            )
            return present_vp_jwt(
                [stored.serialize()],
                key,
                nonce=nonce,
                aud=audience,
                iat=int(when.timestamp()),
                holder=holder_did,
                kid=vm,
            )
        vm, key = await own_signing_key(self.wallet, resolver, holder_did, AUTHENTICATION)
        credential = stored.credential
        if not isinstance(credential, dict):
            raise MalformedCredential("the held Data Integrity credential is not a JSON object")
        base = credential["@context"][0] if isinstance(credential["@context"], list) else None
        # A VC Data Model 1.1 credential travels in a 1.1 presentation, which needs the Data
        # Integrity context for its proof; 2.0 defines DataIntegrityProof itself.
        if base == CREDENTIALS_V1:
            contexts = [CREDENTIALS_V1, DATA_INTEGRITY_V2]
        else:
            contexts = [CREDENTIALS_V2]
        presentation = {
            "@context": contexts,
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiablePresentation"],
            "holder": holder_did,
            "verifiableCredential": [credential],
        }
        return await add_proof(
            presentation,
            cryptosuite=CRYPTOSUITES[stored.format],
            key=key,
            verification_method=vm,
            proof_purpose=AUTHENTICATION,
            challenge=nonce,
            domain=audience,
            created=when.astimezone(UTC).replace(microsecond=0),
        )


# -- helpers ---------------------------------------------------------------------------------


async def _add(store: Store, stored: StoredCredential, *, look_first: bool) -> StoredCredential:
    """Keep ``stored``, or return the same credential held already. ``look_first`` inside a
    transaction: on PostgreSQL a failed insert would abort the whole transaction, so a
    duplicate must not be found by provoking one. Alone, the insert is its own transaction:
    it is tried first, and the usual case (a credential not held yet) costs one round trip."""
    try:
        if look_first:
            existing = StoredCredential.from_record(await store.get(CATEGORY, stored.id))
        else:
            await store.add(CATEGORY, stored.id, stored.value(), stored.tags())
            return stored
    except RecordNotFound:
        try:
            await store.add(CATEGORY, stored.id, stored.value(), stored.tags())
            return stored
        except DuplicateRecord:  # stored concurrently since we looked
            existing = StoredCredential.from_record(await store.get(CATEGORY, stored.id))
    except DuplicateRecord:
        existing = StoredCredential.from_record(await store.get(CATEGORY, stored.id))
    if existing.credential != stored.credential:
        raise DuplicateCredential(f"another credential with id {stored.id[:100]} is already held")
    return existing


def _check_binding(nonce: Any, audience: Any) -> None:
    for name, value in (("nonce", nonce), ("audience", audience)):
        if not isinstance(value, str) or not value or len(value) > 1024:
            raise InputError(f"a presentation needs the verifier's {name} (1-1024 characters)")


def _candidates(
    records: Iterable[Any], held: dict[str, StoredCredential] | None
) -> Iterator[Candidate]:
    for record in records:
        stored = StoredCredential.from_record(record)
        if held is not None:
            held[stored.id] = stored
        yield stored.candidate()


def _secured_form(data: str | bytes | Mapping[str, Any]) -> str | dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCredential("a credential is UTF-8 text") from None
    if not isinstance(data, str):
        raise MalformedCredential("a credential is JSON text, a JSON object or a compact JWT")
    text = data.strip()
    if text.startswith("{"):
        try:
            return loads_object(text, what="credential")
        except TooLargeError as err:
            raise CredentialTooLarge(str(err)) from err
        except InputError as err:
            raise MalformedCredential(str(err)) from err
    return text


def _describe(
    fmt: CredentialFormat, secured: str | dict[str, Any], report: Any, stored: int
) -> StoredCredential:
    pex: dict[str, Any] = {"format": fmt.pex_format}
    valid_from = None
    if fmt.is_jwt and not isinstance(secured, str):
        raise MalformedCredential(f"a {fmt} credential is a compact string")
    if not fmt.is_jwt and not isinstance(secured, dict):
        raise MalformedCredential(f"a {fmt} credential is a JSON object")
    if fmt is CredentialFormat.SD_JWT:
        held = HeldSdJwt.parse(secured)
        claims: dict[str, Any] = held.claims
        pex["alg"] = held.header.get("alg")
        credential_id = sd_jwt_id(held.issuer_jwt, held.payload)
        revocable = "status" in held.payload
        nbf = claims.get("nbf")
        if isinstance(nbf, int) and not isinstance(nbf, bool):
            valid_from = datetime.fromtimestamp(nbf, UTC).isoformat().replace("+00:00", "Z")
    elif fmt is CredentialFormat.VC_JWT:
        jws, claims = decode_jwt(secured, "the vc+jwt")
        pex["alg"] = jws.header.get("alg")
        cred = parse_credential(claims)
        credential_id = cred.id or _digest_id(secured)
        revocable = bool(cred.status)
        valid_from = claims.get("validFrom")
    else:
        claims = secured
        cred = parse_credential(secured)
        proof = cred.proofs[0] if cred.proofs else {}
        pex["proof_type"] = proof.get("type")
        pex["cryptosuite"] = proof.get("cryptosuite")
        credential_id = cred.id or _digest_id(secured)
        revocable = bool(cred.status)
        valid_from = secured.get("validFrom") or secured.get("issuanceDate")
    return StoredCredential(
        id=credential_id,
        format=fmt,
        credential=secured,
        issuer=report.issuer,
        types=tuple(report.types),
        subject=report.subject,
        valid_from=valid_from if isinstance(valid_from, str) else None,
        valid_until=report.valid_until,
        revocable=revocable,
        stored=stored,
        claims=claims,
        pex=pex,
    )


def _cnf_key(claims: Mapping[str, Any]) -> PublicKey:
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or "jwk" not in cnf:
        raise HolderBindingError("the SD-JWT has no cnf key, so it cannot be presented bound")
    try:
        return PublicKey.from_jwk(cnf["jwk"])
    except MoiError as err:
        raise HolderBindingError(f"the SD-JWT's cnf key is not usable: {err}") from err


def _digest_id(secured: str | dict[str, Any]) -> str:
    text = secured if isinstance(secured, str) else jcs(secured).decode("utf-8")
    return "urn:moi:sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_id(credential_id: Any) -> None:
    if not isinstance(credential_id, str) or not credential_id or len(credential_id) > 1024:
        raise InputError("a credential id is a non-empty string of at most 1024 characters")
