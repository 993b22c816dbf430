"""The remembered-head decoding of long protected headers accepts and refuses exactly what the
plain strict decoder does, and long-header envelopes still refuse tampering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet.errors import MalformedEnvelope, MoiError
from wallet.jose import decrypt, encrypt, parse
from wallet.jose._util import b64d, b64d_header, b64e
from wallet.keys import KeyType, PrivateKey

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _outcome(fn: object, text: object) -> tuple[str, object]:
    try:
        return "ok", fn(text, "header")  # type: ignore[operator]
    except MalformedEnvelope as err:
        return "error", str(err)


@settings(max_examples=300, deadline=None)
@given(
    head=st.binary(min_size=300, max_size=3000),
    tail=st.binary(max_size=120),
    edit=st.tuples(st.integers(min_value=0), st.sampled_from("+/=!é A_-")) | st.none(),
    cut=st.integers(min_value=0, max_value=3),
)
def test_head_split_decodes_as_the_whole(
    head: bytes, tail: bytes, edit: tuple[int, str] | None, cut: int
) -> None:
    text = b64e(head + tail)
    if edit is not None:
        at, char = edit
        at %= len(text)
        text = text[:at] + char + text[at + 1 :]
    text = text[: len(text) - cut] if cut < len(text) else text
    # Twice: the second call takes the remembered head.
    for _ in range(2):
        assert _outcome(b64d_header, text) == _outcome(b64d, text)


def test_non_canonical_final_group_is_refused_after_a_remembered_head() -> None:
    text = b64e(bytes(range(256)) * 3 + b"\x01")  # ends in a partial group: "AQ"
    assert b64d_header(text, "header") == b64d(text, "header")
    bad = text[:-1] + "R"  # same decoded byte, non-zero unused bits
    with pytest.raises(MalformedEnvelope, match="canonical"):
        b64d_header(bad, "header")


def test_long_header_envelope_round_trip_and_tampering() -> None:
    # A did:peer:2-like sender id long enough that the protected header takes the split path.
    skid = "did:peer:2.Ez6LS" + "".join(ALPHABET[i % 64] for i in range(600)) + "#key-1"
    alice, bob = PrivateKey.generate(KeyType.X25519), PrivateKey.generate(KeyType.X25519)
    kid = "did:example:bob#key-1"
    for _ in range(2):  # the second message reuses the sender's and the receiver's heads
        jwe = encrypt(b"{}", [(kid, bob.public)], enc="A256CBC-HS512", sender=(skid, alice))
        assert len(jwe["protected"]) > 600
        assert decrypt(parse(jwe), kid, bob, alice.public) == b"{}"
    protected = jwe["protected"]
    for at in (10, len(protected) // 2, len(protected) - 5):
        flipped = "A" if protected[at] != "A" else "B"
        tampered = dict(jwe, protected=protected[:at] + flipped + protected[at + 1 :])
        with pytest.raises(MoiError):
            decrypt(parse(tampered), kid, bob, alice.public)
