"""Issue-credential and present-proof between moi agents (in-process, on loopback), in both
DIDComm families: every format issued, verified and kept; proofs by DIF Presentation
Exchange; selective disclosure checked on the wire; revocation end to end against the status
list the issuer's agent serves; declined offers and requests; replayed and forged answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.config import Config
from agent.errors import LocalProtocolError
from agent.plugin import Family, Send
from agent.runtime import Agent
from protocols.issue_credential import actions as offers
from protocols.issue_credential import issuing
from protocols.issue_credential.attachments import Attached
from protocols.issue_credential.policy import CredentialPolicy
from protocols.out_of_band import actions as oob
from protocols.present_proof import actions as proofs
from protocols.present_proof.messages import Presentation
from wallet import Wallet
from wallet.credentials.holder import Holder
from wallet.credentials.sd_jwt_holder import HeldSdJwt
from wallet.errors import InputError, RecordNotFound

FORMATS = ("di-jcs", "di-rdfc", "ed25519-2020", "vc-jwt", "sd-jwt")
PERSON = {
    "given_name": "Erika",
    "family_name": "Mustermann",
    "birthdate": "1963-08-12",
    "age_over_18": True,
}


@dataclass
class Peer:
    agent: Agent
    #: family → this side's connection id with the other agent of the pair
    conns: dict[Family, str] = field(default_factory=dict)


async def start(tmp_path: Path, label: str) -> Agent:
    home = tmp_path / label
    home.mkdir()
    wallet = await Wallet.create(f"sqlite://{home}/wallet.db", passphrase="pw", kdf="argon2id-test")
    agent = Agent(
        Config(port=0, admin_port=0, label=label, insecure_admin=True),
        wallet,
        admin_key="k" * 24,
        home=home,
    )
    await agent.start()
    assert not agent.registry.refused, agent.registry.refused
    return agent


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll until ``check`` returns something truthy (a deadline, not a timing assert)."""
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.02)


async def connect(inviter: Agent, invitee: Agent, family: Family) -> tuple[str, str]:
    invitation = await oob.create_invitation(inviter, family=family, label=inviter.config.label)
    theirs = await oob.receive_invitation(invitee, invitation.url, label=invitee.config.label)

    async def both() -> tuple[str, str] | None:
        mine = [c for c in await inviter.connections.list() if c.family == family.value]
        other = await invitee.connections.get(theirs.id)
        done = [c for c in mine if c.state.value == "completed" and c.their_did == other.my_did]
        if done and other.state.value == "completed":
            return done[0].id, other.id
        return None

    return await eventually(both)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Peer, Peer]]:
    """An issuer (or verifier) and a holder, connected in both families."""
    issuer, holder = await asyncio.gather(start(tmp_path, "Shop"), start(tmp_path, "Alice"))
    a, b = Peer(issuer), Peer(holder)
    for family in Family:
        a.conns[family], b.conns[family] = await connect(issuer, holder, family)
    yield a, b
    for agent in (issuer, holder):
        await agent.stop()
        await agent.wallet.close()


async def pending_offer(holder: Agent) -> offers.CredentialExchangeRecord:
    found = await eventually(
        lambda: offers.list_exchanges(holder, role="holder", state="offer-received")
    )
    return found[-1]


async def pending_request(holder: Agent) -> proofs.PresentationExchangeRecord:
    found = await eventually(
        lambda: proofs.list_exchanges(holder, role="prover", state="request-received")
    )
    return found[-1]


async def set_policy(agent: Agent, **changes: Any) -> None:
    from protocols.issue_credential import policy

    await agent.commit([(await policy.load(agent.store)).update(changes).save()])


async def issue(
    issuer: Peer, holder: Peer, family: Family, fmt: str, **kw: Any
) -> tuple[offers.CredentialExchangeRecord, offers.CredentialExchangeRecord]:
    """Offer, accept as the person, and wait for the ack; (issuer's, holder's) records."""
    kw.setdefault("claims", PERSON)
    if fmt == "sd-jwt":
        kw.setdefault("disclose", list(kw["claims"]))
    offered = await offers.offer_credential(
        issuer.agent, issuer.conns[family], format=fmt, types=["Membership"], **kw
    )
    waiting = await pending_offer(holder.agent)
    assert waiting.summary["claims"] == kw["claims"]
    await offers.accept_offer(holder.agent, waiting.id)
    done = await offers.wait_for(issuer.agent, offered.id, {"done"}, timeout=10)
    assert done.state == "done", done.error
    held = await offers.wait_for(holder.agent, waiting.id, {"done"}, timeout=10)
    return done, held


async def prove(
    verifier: Peer, holder: Peer, family: Family, *, accept: bool = True, **kw: Any
) -> proofs.PresentationExchangeRecord:
    requested = await proofs.request_proof(verifier.agent, verifier.conns[family], **kw)
    if accept:
        waiting = await pending_request(holder.agent)
        assert waiting.preview["satisfiable"], waiting.preview
        await proofs.accept_request(holder.agent, waiting.id)
    return await proofs.wait_for(verifier.agent, requested.id, {"done"}, timeout=10)


# -- issuing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(Family))
async def test_every_format_is_issued_verified_and_kept(
    pair: tuple[Peer, Peer], family: Family
) -> None:
    shop, alice = pair
    wallet = Holder(alice.agent.wallet)
    for fmt in FORMATS:
        done, held = await issue(shop, alice, family, fmt, status=fmt != "ed25519-2020")
        assert held.state == "done" and held.credential_id == done.credential_id
        stored = await wallet.get(held.credential_id)
        assert stored.issuer == done.summary["issuer"]
        assert stored.subject == (await alice.agent.connections.get(alice.conns[family])).my_did
        claims = stored.claims if fmt == "sd-jwt" else stored.claims["credentialSubject"]
        assert {k: claims[k] for k in PERSON} == PERSON
        if fmt == "ed25519-2020":
            assert stored.pex["proof_type"] == "Ed25519Signature2020"


async def test_offers_wait_for_the_person_unless_the_policy_says_otherwise(
    pair: tuple[Peer, Peer],
) -> None:
    shop, alice = pair
    offered = await offers.offer_credential(
        shop.agent, shop.conns[Family.V2], format="vc-jwt", claims={"member": True}
    )
    waiting = await pending_offer(alice.agent)
    assert waiting.summary["issuer"].startswith("did:key:")
    assert (await offers.list_exchanges(shop.agent))[0].state == "offer-sent"
    await offers.decline(alice.agent, waiting.id, reason="not now")
    ended = await offers.wait_for(shop.agent, offered.id, {"done"}, timeout=10)
    assert ended.state == "abandoned" and "not now" in ended.error
    assert await Holder(alice.agent.wallet).list() == []

    await set_policy(alice.agent, auto_accept_offers=True)
    offered = await offers.offer_credential(
        shop.agent, shop.conns[Family.V1], format="sd-jwt", claims={"member": True}
    )
    assert (await offers.wait_for(shop.agent, offered.id, {"done"}, timeout=10)).state == "done"
    assert len(await Holder(alice.agent.wallet).list()) == 1


async def test_a_forged_credential_is_refused_and_not_kept(
    pair: tuple[Peer, Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop, alice = pair
    real = issuing.issue

    async def forge(*args: Any, **kw: Any) -> tuple[Attached, str]:
        attached, credential_id = await real(*args, **kw)
        signed = dict(attached.data)  # type: ignore[arg-type]
        value = signed["proof"]["proofValue"]
        signed["proof"] = {**signed["proof"], "proofValue": value[:-4] + "1111"}
        return Attached(attached.format, signed, media_type=attached.media_type), credential_id

    monkeypatch.setattr(issuing, "issue", forge)
    offered = await offers.offer_credential(
        shop.agent, shop.conns[Family.V1], format="di-jcs", claims={"member": True}
    )
    waiting = await pending_offer(alice.agent)
    await offers.accept_offer(alice.agent, waiting.id)
    ended = await offers.wait_for(shop.agent, offered.id, {"done"}, timeout=10)
    assert ended.state == "abandoned"
    mine = await offers.wait_for(alice.agent, waiting.id, {"done"}, timeout=10)
    assert mine.state == "abandoned" and "signature" in mine.error.lower()
    assert await Holder(alice.agent.wallet).list() == []


async def test_a_request_for_something_else_than_the_offer_is_refused(
    pair: tuple[Peer, Peer],
) -> None:
    shop, alice = pair
    offered = await offers.offer_credential(
        shop.agent, shop.conns[Family.V2], format="di-jcs", claims={"tier": "bronze"}
    )
    waiting = await pending_offer(alice.agent)
    # A holder asking for more than offered: the request's claims are changed on the way.
    from protocols.issue_credential import formats as fmts

    real_bind = fmts.bind_request

    def greedy(offer: Any, holder_did: str) -> Attached:
        data = json.loads(json.dumps(real_bind(offer, holder_did).data))
        data["credential"]["credentialSubject"]["tier"] = "gold"
        return Attached(offer.attached.format, data)

    fmts.bind_request = greedy  # type: ignore[assignment]
    try:
        await offers.accept_offer(alice.agent, waiting.id)
    finally:
        fmts.bind_request = real_bind  # type: ignore[assignment]
    ended = await offers.wait_for(shop.agent, offered.id, {"done"}, timeout=10)
    assert ended.state == "abandoned" and "differs from the offer" in ended.error
    mine = await offers.wait_for(alice.agent, waiting.id, {"done"}, timeout=10)
    assert mine.state == "abandoned" and "differs from the offer" in mine.error


# -- proving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(Family))
async def test_proofs_by_presentation_exchange(pair: tuple[Peer, Peer], family: Family) -> None:
    shop, alice = pair
    for fmt in ("di-jcs", "di-rdfc", "ed25519-2020", "vc-jwt", "sd-jwt"):
        await issue(shop, alice, family, fmt, claims={**PERSON, "kind": fmt}, status=True)
    for fmt in ("di-jcs", "di-rdfc", "ed25519-2020", "vc-jwt", "sd-jwt"):
        result = await prove(shop, alice, family, claims=[f"kind={json.dumps(fmt)}"], format=fmt)
        assert result.state == "done" and result.verified, result.report
        report = result.report
        assert report["verified"] and report["presentation"]
        assert all(v in ("ok", "absent") for v in report["checks"].values()), report["checks"]
        assert report["checks"]["holder_binding"] == "ok"
        assert report["checks"]["status"] == "ok" and report["checks"]["submission"] == "ok"
        presented = result.presentation
        if fmt in ("vc-jwt", "sd-jwt"):
            assert len(presented["vp_token"]) == 1
        else:
            assert presented["type"] == ["VerifiablePresentation", "PresentationSubmission"]
            wanted = "Ed25519Signature2020" if fmt == "ed25519-2020" else "DataIntegrityProof"
            assert presented["proof"]["type"] == wanted
            assert presented["presentation_submission"]["descriptor_map"][0]["path"] == (
                "$.verifiableCredential[0]"
            )
        prover = (await proofs.list_exchanges(alice.agent, role="prover"))[-1]
        assert (await proofs.wait_for(alice.agent, prover.id, {"done"}, timeout=10)).state == "done"


async def test_two_credentials_in_one_presentation(pair: tuple[Peer, Peer]) -> None:
    shop, alice = pair
    await issue(shop, alice, Family.V1, "di-jcs", claims={"member": True})
    await issue(shop, alice, Family.V1, "sd-jwt", claims={"age_over_18": True, "name": "E"})
    definition = {
        "id": "two",
        "input_descriptors": [
            {
                "id": "membership",
                "format": {"ldp_vc": {}},
                "constraints": {"fields": [{"path": ["$.credentialSubject.member"]}]},
            },
            {
                "id": "age",
                "format": {"dc+sd-jwt": {}},
                "constraints": {
                    "limit_disclosure": "required",
                    "fields": [{"path": ["$.age_over_18"], "filter": {"const": True}}],
                },
            },
        ],
    }
    result = await prove(shop, alice, Family.V1, definition=definition)
    assert result.verified, result.report
    tokens = result.presentation["vp_token"]
    assert isinstance(tokens[0], dict) and isinstance(tokens[1], str)
    assert "name" not in json.dumps(result.report["claims"])


async def test_over_18_and_nothing_else_leaves_the_holder(pair: tuple[Peer, Peer]) -> None:
    """The acceptance test: only 'over 18' on the wire; the other disclosures stay home."""
    shop, alice = pair
    _, held = await issue(shop, alice, Family.V2, "sd-jwt")
    stored = await Holder(alice.agent.wallet).get(held.credential_id)
    secret = [d for d in HeldSdJwt.parse(stored.serialize()).disclosures if d.name != "age_over_18"]
    assert {d.name for d in secret} == {"given_name", "family_name", "birthdate"}

    sent: list[str] = []
    pack = alice.agent.sender.pack_for

    async def capture(message: Any, connection: Any, **kw: Any) -> bytes:
        sent.append(json.dumps(message.to_json()))
        return await pack(message, connection, **kw)

    alice.agent.sender.pack_for = capture  # type: ignore[method-assign]
    requested = await proofs.request_proof(
        shop.agent, shop.conns[Family.V2], claims=["age_over_18=true"], format="sd-jwt"
    )
    waiting = await pending_request(alice.agent)
    (shown,) = waiting.preview["credentials"]
    assert shown["disclosed"] == {"age_over_18": True}
    assert set(shown["withheld"]) == {"given_name", "family_name", "birthdate"}
    assert waiting.preview["to"]["label"] == "Shop"
    assert waiting.preview["to"]["domain_is_theirs"] is True
    assert sent == []  # nothing left before the person agreed
    await proofs.accept_request(alice.agent, waiting.id)
    result = await proofs.wait_for(shop.agent, requested.id, {"done"}, timeout=10)
    assert result.verified and result.report["claims"] == {"age_over_18": True}

    wire = "".join(sent)
    assert "vp_token" in wire and "~" in wire
    for value in ("Erika", "Mustermann", "1963-08-12"):
        assert value not in wire
    for disclosure in secret:
        assert disclosure.encoded not in wire
    assert json.dumps(result.presentation).count("~") >= 2  # the SD-JWT, one disclosure, KB


async def test_a_declined_request_tells_the_verifier(pair: tuple[Peer, Peer]) -> None:
    shop, alice = pair
    await issue(shop, alice, Family.V1, "sd-jwt", claims={"age_over_18": True})
    requested = await proofs.request_proof(
        shop.agent, shop.conns[Family.V1], claims=["age_over_18"], format="sd-jwt"
    )
    waiting = await pending_request(alice.agent)
    await proofs.decline(alice.agent, waiting.id, reason="not to you")
    ended = await proofs.wait_for(shop.agent, requested.id, {"done"}, timeout=10)
    assert ended.state == "abandoned" and ended.verified is None
    assert "declined" in ended.error and "not to you" in ended.error
    with pytest.raises(LocalProtocolError, match="is abandoned, not a request"):
        await proofs.accept_request(alice.agent, waiting.id)


async def test_an_unanswerable_request_waits_for_the_person(pair: tuple[Peer, Peer]) -> None:
    """No automatic 'no match': a verifier must not learn by timing what the holder has."""
    shop, alice = pair
    await set_policy(alice.agent, auto_present=True)
    await proofs.request_proof(
        shop.agent, shop.conns[Family.V2], claims=["passport_number"], format="sd-jwt"
    )
    waiting = await pending_request(alice.agent)
    assert waiting.preview["satisfiable"] is False and waiting.preview["reasons"]
    with pytest.raises(InputError, match="decline"):
        await proofs.accept_request(alice.agent, waiting.id)


async def test_auto_present(pair: tuple[Peer, Peer]) -> None:
    shop, alice = pair
    await issue(shop, alice, Family.V2, "di-jcs", claims={"member": True})
    await set_policy(alice.agent, auto_present=True)
    result = await prove(shop, alice, Family.V2, accept=False, claims=["member"])
    assert result.verified


async def test_a_replayed_presentation_is_rejected(pair: tuple[Peer, Peer]) -> None:
    shop, alice = pair
    await issue(shop, alice, Family.V1, "sd-jwt", claims={"age_over_18": True})
    await issue(shop, alice, Family.V1, "di-jcs", claims={"member": True})
    for claims, fmt in ((["age_over_18"], "sd-jwt"), (["member"], "di-jcs")):
        first = await prove(shop, alice, Family.V1, claims=claims, format=fmt)
        assert first.verified
        # The same presentation, sent again as the answer to a new request (another challenge).
        second = await proofs.request_proof(
            shop.agent, shop.conns[Family.V1], claims=claims, format=fmt
        )
        waiting = await pending_request(alice.agent)
        replay = Presentation(
            attachments=(Attached("dif/presentation-exchange/submission@v1.0", first.presentation),)
        ).to_message(Family.V1, thid=waiting.thread_id)
        await alice.agent.commit([Send(alice.conns[Family.V1], replay)])
        ended = await proofs.wait_for(shop.agent, second.id, {"done"}, timeout=10)
        assert ended.state == "abandoned" and ended.verified is False
        assert ended.report["checks"]["holder_binding"].startswith("failed")
        assert (
            "challenge" in ended.report["checks"]["holder_binding"]
            or "nonce" in (ended.report["checks"]["holder_binding"])
        )
        # The shop's problem report ends Alice's side too (no decline needed, nor possible).
        theirs = await proofs.wait_for(alice.agent, waiting.id, (), timeout=10)
        assert theirs.state == "abandoned"


# -- revocation, against the status list the issuer's agent serves ---------------------------


async def test_revocation_end_to_end(tmp_path: Path) -> None:
    issuer, holder, verifier = await asyncio.gather(
        start(tmp_path, "Registry"), start(tmp_path, "Alice"), start(tmp_path, "Bar")
    )
    try:
        reg, alice, bar = Peer(issuer), Peer(holder), Peer(verifier)
        reg.conns[Family.V2], alice.conns[Family.V2] = await connect(issuer, holder, Family.V2)
        bar.conns[Family.V1], alice.conns[Family.V1] = await connect(verifier, holder, Family.V1)
        done, _ = await issue(
            reg, alice, Family.V2, "sd-jwt", claims={"age_over_18": True}, status=True
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{issuer.endpoint}/status/no-such-list") as resp:
                assert resp.status == 404

        async def check() -> proofs.PresentationExchangeRecord:
            return await prove(bar, alice, Family.V1, claims=["age_over_18"], format="sd-jwt")

        await set_policy(verifier, status_max_age=300)
        assert (await check()).verified

        async def change(action: str) -> None:
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    f"{issuer.admin_url}/credentials/issued/status",
                    json={"credential_id": done.credential_id, "action": action},
                ) as resp:
                    assert resp.status == 200, await resp.text()

        await change("suspend")
        # Within the cache lifetime the verifier still trusts the list it fetched...
        assert (await check()).verified
        # ... and with a lifetime of 0 it fetches anew and sees the suspension.
        await set_policy(verifier, status_max_age=0)
        suspended = await check()
        assert not suspended.verified and suspended.state == "abandoned"
        assert suspended.report["checks"]["status"].startswith("failed")
        assert "suspen" in suspended.report["checks"]["status"]
        await change("unsuspend")
        assert (await check()).verified
        await change("revoke")
        revoked = await check()
        assert not revoked.verified and "revo" in revoked.report["checks"]["status"]
    finally:
        for agent in (issuer, holder, verifier):
            await agent.stop()
            await agent.wallet.close()


async def test_default_policy_and_unknown_exchanges(pair: tuple[Peer, Peer]) -> None:
    shop, _ = pair
    assert await offers.list_exchanges(shop.agent) == []
    with pytest.raises(RecordNotFound):
        await offers.accept_offer(shop.agent, "nope")
    with pytest.raises(RecordNotFound):
        await proofs.accept_request(shop.agent, "nope")
    from protocols.issue_credential import policy

    assert await policy.load(shop.agent.store) == CredentialPolicy()


async def test_a_generic_problem_report_ends_the_wait(pair: tuple[Peer, Peer]) -> None:
    """A peer answering with report-problem (not the protocol's own report) still ends it."""
    from wallet.didcomm.message import Message

    shop, alice = pair
    for family, kind in (
        (Family.V1, "https://didcomm.org/report-problem/1.0/problem-report"),
        (Family.V2, "https://didcomm.org/report-problem/2.0/problem-report"),
    ):
        requested = await proofs.request_proof(
            shop.agent, shop.conns[family], claims=["age_over_18"]
        )
        waiting = await pending_request(alice.agent)
        body = (
            {"description": {"code": "e.p.xfer", "en": "cannot answer now"}}
            if family is Family.V1
            else {"code": "e.p.xfer", "comment": "cannot answer now"}
        )
        report = Message(
            type=kind,
            body=body,
            thid=waiting.thread_id if family is Family.V1 else None,
            pthid=waiting.thread_id if family is Family.V2 else None,
        )
        await alice.agent.commit([Send(alice.conns[family], report)])
        ended = await proofs.wait_for(shop.agent, requested.id, {"done"}, timeout=10)
        assert ended.state == "abandoned" and "cannot answer now" in ended.error
        await proofs.decline(alice.agent, waiting.id)
