"""The SD-JWT drafts' example specifications (which claims are `!sd`, what the holder
discloses) run through moi: issue with the drafts' keys, present, verify, and compare the
processed payload with what the holder chose to disclose.

The helpers here (the `!sd` YAML tag, the expected-payload computation) are also used by the
interop tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wallet.credentials.sd_jwt import (
    HeldSdJwt,
    issue_sd_jwt,
    sd_jwt_from_json,
    sd_jwt_to_json,
    verify_sd_jwt,
)
from wallet.credentials.sd_jwt_vc import verify_sd_jwt_vc
from wallet.keys import PrivateKey

yaml = pytest.importorskip("yaml")

VECTORS = Path(__file__).parent / "vectors"
SD_JWT_SPECS = sorted((VECTORS / "sd-jwt" / "examples-specification").glob("*.yml"))
SD_JWT_VC_SPECS = sorted((VECTORS / "sd-jwt-vc" / "examples-specification").glob("*.yml"))
ALL_SPECS = SD_JWT_SPECS + SD_JWT_VC_SPECS
NONCE = "1234567890"


@dataclass(frozen=True)
class SD:
    """A value (or claim name) the example marks selectively disclosable with `!sd`."""

    value: Any

    def __hash__(self) -> int:
        return hash(("SD", self.value if not isinstance(self.value, (dict, list)) else id(self)))


class _Loader(yaml.SafeLoader):
    pass


def _construct_sd(loader: yaml.SafeLoader, node: yaml.Node) -> SD:
    if isinstance(node, yaml.MappingNode):
        return SD(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return SD(loader.construct_sequence(node, deep=True))
    # The tag replaces the implicit scalar resolution; keep YAML's types (true, 2, ...) for
    # plain scalars, strings for quoted ones ("12").
    implicit = (node.style is None, False)
    resolved = loader.resolve(yaml.ScalarNode, node.value, implicit)
    plain = yaml.ScalarNode(resolved, node.value, node.start_mark, node.end_mark, node.style)
    return SD(loader.construct_object(plain, deep=True))


_Loader.add_constructor("!sd", _construct_sd)


def load_spec(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def load_settings(folder: str) -> dict[str, Any]:
    return yaml.safe_load((VECTORS / folder / "examples-settings.yml").read_text())


def untag(value: Any, path: tuple = ()) -> tuple[Any, list[tuple]]:
    """Plain claims and the paths of every `!sd` claim, from a tagged example."""
    paths: list[tuple] = []

    def walk(v: Any, p: tuple) -> Any:
        if isinstance(v, SD):
            paths.append(p)
            return walk(v.value, p)
        if isinstance(v, dict):
            out = {}
            for k, child in v.items():
                name = k.value if isinstance(k, SD) else k
                if isinstance(k, SD):
                    paths.append((*p, name))
                out[name] = walk(child, (*p, name))
            return out
        if isinstance(v, list):
            return [walk(child, (*p, i)) for i, child in enumerate(v)]
        return v

    return walk(value, path), paths


def disclosed_paths(spec: Any, prefix: tuple = ()) -> list[tuple]:
    """The example's holder_disclosed_claims as claim paths (a True leaf ends a path)."""
    if spec is True:
        return [prefix]
    out: list[tuple] = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            out += disclosed_paths(v, (*prefix, k))
    elif isinstance(spec, list):
        for i, v in enumerate(spec):
            out += disclosed_paths(v, (*prefix, i))
    return out


def expected_claims(tagged: Any, spec: Any) -> Any:
    """What a verifier sees: plain claims always, `!sd` ones only where the holder chose them
    (``True`` chooses a claim with everything inside it)."""

    def pick(v: Any, s: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, child in v.items():
                name = k.value if isinstance(k, SD) else k
                sub = True if s is True else s.get(name) if isinstance(s, dict) else None
                if isinstance(k, SD) and not sub:
                    continue
                out[name] = pick(child, sub)
            return out
        if isinstance(v, list):
            out_list = []
            for i, child in enumerate(v):
                sub = True if s is True else s[i] if isinstance(s, list) and i < len(s) else None
                if isinstance(child, SD):
                    if not sub:
                        continue
                    child = child.value
                out_list.append(pick(child, sub))
            return out_list
        return v.value if isinstance(v, SD) else v

    return pick(tagged, spec)


def example_inputs(path: Path) -> dict[str, Any]:
    """Claims, disclosable paths, keys and expectations for one example specification."""
    folder = path.parent.parent.name
    spec = load_spec(path)
    settings = load_settings(folder)
    keys = settings["key_settings"]
    issuer_jwk = keys.get("issuer_key") or keys["issuer_keys"][0]
    issuer = PrivateKey.from_jwk({k: v for k, v in issuer_jwk.items() if k != "kid"})
    holder = PrivateKey.from_jwk(keys["holder_key"])
    claims, sd_paths = untag(spec["user_claims"])
    if spec.get("include_default_claims", True):
        claims = {
            "iss": settings["identifiers"]["issuer"],
            "iat": settings["iat"],
            "exp": settings["exp"],
            **claims,
        }
    disclose = spec.get("holder_disclosed_claims") or {}
    expected = expected_claims(spec["user_claims"], disclose)
    if spec.get("include_default_claims", True):
        expected = {k: claims[k] for k in ("iss", "iat", "exp")} | expected
    return {
        "spec": spec,
        "claims": claims,
        "sd_paths": sd_paths,
        "issuer": issuer,
        "holder": holder,
        "disclose": disclosed_paths(disclose),
        "expected": expected,
        "key_binding": bool(spec.get("key_binding")),
        "typ": (spec.get("extra_header_parameters") or {}).get("typ", "example+sd-jwt"),
        "aud": settings["identifiers"]["verifier"],
        "now": settings["iat"] + 3600,
        "json": spec.get("serialization_format") == "json",
        "decoys": 4 if spec.get("add_decoy_claims") else 0,
    }


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.stem)
def test_example_issue_present_verify(path: Path) -> None:
    ex = example_inputs(path)
    kb = ex["key_binding"]
    issued = issue_sd_jwt(
        ex["claims"],
        ex["issuer"],
        disclosable=ex["sd_paths"],
        holder_key=ex["holder"].public if kb else None,
        typ=ex["typ"],
        decoys=ex["decoys"],
    )
    held = HeldSdJwt.parse(issued)
    # The holder's full view is the example's claims, plus cnf.
    assert {k: v for k, v in held.claims.items() if k != "cnf"} == ex["claims"]
    presentation = held.present(
        ex["disclose"],
        holder_key=ex["holder"] if kb else None,
        nonce=NONCE if kb else None,
        aud=ex["aud"] if kb else None,
        iat=ex["now"] if kb else None,
    )
    if ex["json"]:
        presentation = sd_jwt_from_json(sd_jwt_to_json(presentation))
    verified = verify_sd_jwt(
        presentation,
        ex["issuer"].public,
        now=ex["now"],
        key_binding=kb,
        nonce=NONCE if kb else None,
        aud=ex["aud"] if kb else None,
        typ=[ex["typ"]],
    )
    expected = dict(ex["expected"])
    if kb:
        expected["cnf"] = {"jwk": ex["holder"].public.to_jwk()}
    assert verified.claims == expected
    assert held.preview(ex["disclose"]) == expected
    # Only the chosen Disclosures travel.
    chosen = {d.encoded for d in held.select(ex["disclose"])}
    for d in held.disclosures:
        assert (d.encoded in presentation) == (d.encoded in chosen)


@pytest.mark.parametrize("path", SD_JWT_VC_SPECS, ids=lambda p: p.stem)
def test_sd_jwt_vc_examples_verify_as_sd_jwt_vc(path: Path) -> None:
    ex = example_inputs(path)
    issued = issue_sd_jwt(
        ex["claims"],
        ex["issuer"],
        disclosable=ex["sd_paths"],
        holder_key=ex["holder"].public,
        typ="dc+sd-jwt",
    )
    presentation = HeldSdJwt.parse(issued).present(
        ex["disclose"], holder_key=ex["holder"], nonce=NONCE, aud=ex["aud"], iat=ex["now"]
    )
    verified = verify_sd_jwt_vc(
        presentation,
        lambda iss, kid: ex["issuer"].public,
        now=ex["now"],
        key_binding=True,
        nonce=NONCE,
        aud=ex["aud"],
        vct=[ex["claims"]["vct"]],
    )
    assert verified.vct == ex["claims"]["vct"]
    assert verified.claims == ex["expected"] | {"cnf": {"jwk": ex["holder"].public.to_jwk()}}


def test_sd_tag_loader_reads_types() -> None:
    spec = load_spec(VECTORS / "sd-jwt" / "examples-specification" / "simple.yml")
    claims, paths = untag(spec["user_claims"])
    assert claims["phone_number_verified"] is True
    assert claims["updated_at"] == 1570000000
    assert claims["nationalities"] == ["US", "DE"]
    assert ("nationalities", 0) in paths and ("given_name",) in paths and ("sub",) not in paths
