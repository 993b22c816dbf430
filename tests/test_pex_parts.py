"""PEX building blocks: the JSONPath subset, the filter subset, tag preselection."""

from __future__ import annotations

import random
from typing import Any

import pytest

from wallet.credentials import pex_filter
from wallet.credentials.pex import Candidate, PresentationDefinition, evaluate
from wallet.credentials.pex_filter import Filter, FilterError, compile_pattern, json_equal
from wallet.credentials.pex_jsonpath import MAX_VISITS, JsonPath, JsonPathError, format_path
from wallet.credentials.pex_query import index_terms, matches_query, queries_for, query_for
from wallet.errors import InputError

DOC = {
    "store": {
        "book": [
            {"title": "A", "price": 8},
            {"title": "B", "price": 12, "isbn": "x"},
            {"title": "C", "price": 9},
        ],
        "bicycle": {"color": "red", "price": 19},
    },
    "odd key": {"it's": 1},
}


# -- JSONPath -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("$.store.bicycle.color", ["red"]),
        ("$['store']['bicycle']", [{"color": "red", "price": 19}]),
        ("$[\"odd key\"]['it\\'s']", [1]),
        ("$.store.book[0].title", ["A"]),
        ("$.store.book[-1].title", ["C"]),
        ("$.store.book[*].title", ["A", "B", "C"]),
        ("$.store.book[0,2].title", ["A", "C"]),
        ("$.store.book[1:].title", ["B", "C"]),
        ("$.store.book[::2].title", ["A", "C"]),
        ("$.store.book[::0].title", []),
        ("$..isbn", ["x"]),
        ("$.store..price", [8, 12, 9, 19]),
        ("$.store.*.color", ["red"]),
        ("$.store.book[7]", []),
        ("$.store.bicycle[0]", []),
        ("$", [DOC]),
    ],
)
def test_jsonpath_subset(path: str, values: list[Any]) -> None:
    assert sorted(map(repr, (v for _, v in JsonPath.parse(path).find(DOC)))) == sorted(
        map(repr, values)
    )


def test_jsonpath_concrete_paths_round_trip() -> None:
    for concrete, value in JsonPath.parse("$..*").find(DOC):
        assert JsonPath.parse(format_path(concrete)).find(DOC) == [(concrete, value)]
    assert format_path(("odd key", "it's", 0)) == "$['odd key']['it\\'s'][0]"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "store",
        "$.",
        "$..",
        "$[",
        "$[]",
        "$['a'",
        "$[?(@.price<10)]",
        "$[(@.length-1)]",
        "$.a[1,]",
        "$.9",
        "$[007]",
        "$['\\x']",
        "$.a b",
        "$" + ".a" * 65,
        "$." + "a" * 1100,
    ],
)
def test_jsonpath_malformed_or_unsupported(path: str) -> None:
    with pytest.raises(JsonPathError):
        JsonPath.parse(path)


def test_jsonpath_work_is_bounded() -> None:
    wide = {"a": list(range(MAX_VISITS))}
    with pytest.raises(JsonPathError, match="visits"):
        JsonPath.parse("$..*").find(wide)
    deep: Any = 1
    for _ in range(2000):  # deeper than Python's recursion limit: the walk is iterative
        deep = {"k": deep}
    assert len(JsonPath.parse("$..k").find(deep)) == 2000


# -- filters --------------------------------------------------------------------------------


def test_json_equality_is_jsons_not_pythons() -> None:
    assert json_equal(1, 1.0) and not json_equal(True, 1) and not json_equal(0, False)
    assert json_equal({"a": [1, "x"]}, {"a": [1.0, "x"]}) and not json_equal([1], [1, 2])
    assert not Filter({"const": 1}).matches(True)
    assert Filter({"enum": [False, None]}).matches(None)


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"type": "integer"}, [3, 3.0], [3.5, True, "3"]),
        ({"type": ["string", "null"]}, ["a", None], [1]),
        ({"minimum": 5}, [5, "not a number"], [4]),  # numeric keywords ignore other types
        (
            {"format": "date-time", "formatMinimum": "2020-01-01T00:00:00Z"},
            ["2021-06-01T10:00:00+02:00"],
            ["2019-12-31T23:59:59Z", "2021-06-01", "garbage"],
        ),
        ({"format": "date"}, ["2024-02-29"], ["2023-02-29", "2024-2-1"]),
        ({"format": "email"}, ["anything"], []),  # other formats only annotate
        ({"oneOf": [{"minimum": 0}, {"maximum": 10}]}, [-1, 11], [5]),
        (
            {"properties": {"n": {"type": "string"}}, "required": ["n"]},
            [{"n": "x"}],
            [{"n": 1}, {}],
        ),
        (
            {"items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            [["a"]],
            [[], ["a", 1], ["a", "b", "c"]],
        ),
        ({"x-unknown": 1, "title": "ignored"}, [1, "a"], []),
        (True, [1], []),
        (False, [], [1]),
    ],
)
def test_filter_semantics(schema: Any, good: list[Any], bad: list[Any]) -> None:
    f = Filter(schema)
    assert all(f.matches(v) for v in good) and not any(f.matches(v) for v in bad)


@pytest.mark.parametrize(
    "schema",
    [
        {"format": "date", "formatMaximum": "yesterday"},
        {"allOf": []},
        {"minLength": -1},
        {"pattern": "a" * 600},
        {"pattern": "[z-a]"},
        {"properties": []},
        {
            "not": {
                "not": {
                    "not": {
                        "not": {
                            "not": {
                                "not": {
                                    "not": {
                                        "not": {
                                            "not": {
                                                "not": {
                                                    "not": {
                                                        "not": {
                                                            "not": {
                                                                "not": {"not": {"not": {"not": {}}}}
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ],
)
def test_malformed_filters(schema: Any) -> None:
    with pytest.raises(FilterError):
        Filter(schema)


def test_python_re_fallback_refuses_nested_repetition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pex_filter, "_re2", None)
    for pattern in ("^(a+)+$", "(a|aa)*b", "(x\\d*){2,}"):
        with pytest.raises(FilterError, match="backtracking"):
            compile_pattern(pattern)
    search = compile_pattern("^(DE|FR)[0-9]{2}\\s?([0-9A-Z]{4}\\s?){4}")
    assert search("DE89 3704 0044 0532 0130 00") and not search("US89")
    assert not compile_pattern("a")("a" * 5000)  # over the fallback's subject limit


def test_pattern_runs_in_linear_time_or_is_refused() -> None:
    try:
        search = compile_pattern("^(a+)+$")
    except FilterError:
        return  # the Python-re fallback refuses nested repetition
    assert search("a" * 30) and not search("a" * 50_000 + "!")  # RE2: no backtracking


# -- tag preselection -----------------------------------------------------------------------


def test_index_terms() -> None:
    jwt = Candidate(
        "1",
        "jwt_vc",
        {"iss": "did:ex:a", "vc": {"type": ["VerifiableCredential", "X"], "issuer": "did:ex:b"}},
    )
    assert index_terms(jwt) == {
        "format": "jwt_vc",
        "type:VerifiableCredential": "1",
        "type:X": "1",
        "issuer": "did:ex:a",
        "issuer:did:ex:a": "1",
        "issuer:did:ex:b": "1",
    }
    sd = Candidate("2", "dc+sd-jwt", {"iss": "https://i.example", "vct": "urn:pid"})
    assert index_terms(sd)["vct"] == "urn:pid"


def test_query_for_a_typical_definition() -> None:
    d = PresentationDefinition.parse(
        {
            "id": "q",
            "format": {"ldp_vc": {}},
            "input_descriptors": [
                {
                    "id": "degree",
                    "constraints": {
                        "fields": [
                            {
                                "path": ["$.type", "$.vc.type"],
                                "filter": {"type": "array", "contains": {"const": "Degree"}},
                            },
                            {
                                "path": ["$.issuer", "$.issuer.id"],
                                "filter": {"enum": ["did:ex:u1", "did:ex:u2"]},
                            },
                            {"path": ["$.credentialSubject.gpa"], "filter": {"minimum": 3}},
                        ]
                    },
                },
                {
                    "id": "pid",
                    "format": {"dc+sd-jwt": {}},
                    "constraints": {
                        "fields": [{"path": ["$.vct"], "filter": {"const": "urn:pid"}}]
                    },
                },
            ],
        }
    )
    assert queries_for(d) == {
        "degree": {
            "$and": [
                {"format": {"$in": ["di_vc", "ldp_vc"]}},
                {"type:Degree": "1"},
                {"$or": [{"issuer:did:ex:u1": "1"}, {"issuer:did:ex:u2": "1"}]},
            ]
        },
        "pid": {"$and": [{"format": {"$in": ["dc+sd-jwt", "vc+sd-jwt"]}}, {"vct": "urn:pid"}]},
    }
    assert set(query_for(d)) == {"$or"}


def test_query_ignores_what_it_cannot_pin() -> None:
    d = PresentationDefinition.parse(
        {
            "id": "q",
            "input_descriptors": [
                {
                    "id": "x",
                    "constraints": {
                        "fields": [
                            {
                                "path": ["$.type[*]"],
                                "filter": {"contains": {"const": "T"}},
                            },  # element, vacuous
                            {
                                "path": ["$.type"],
                                "filter": {"contains": {"const": "T"}},
                            },  # no type: array
                            {"path": ["$..type"], "filter": {"const": "T"}},  # descendant
                            {
                                "path": ["$.type", "$.credentialSubject.type"],
                                "filter": {"const": "T"},
                            },
                            {"path": ["$.vct"], "filter": {"pattern": "^urn:"}},
                            {"path": ["$.vct"], "optional": True, "filter": {"const": "v"}},
                        ]
                    },
                }
            ],
        }
    )
    assert query_for(d) == {}


def random_credential(rng: random.Random, n: int) -> Candidate:
    fmt = rng.choice(["ldp_vc", "jwt_vc", "dc+sd-jwt", "di_vc"])
    types = ["VerifiableCredential", *rng.sample(["A", "B", "C", "D"], rng.randint(0, 2))]
    issuer = rng.choice(["did:ex:1", "did:ex:2", "did:ex:3"])
    if fmt == "jwt_vc":
        claims: dict[str, Any] = {
            "iss": issuer,
            "vc": {"type": types, "credentialSubject": {"n": n % 7}},
        }
    elif fmt == "dc+sd-jwt":
        claims = {"iss": issuer, "vct": rng.choice(["urn:a", "urn:b"]), "n": n % 7}
    else:
        claims = {
            "type": rng.choice([types, types[-1]]),
            "issuer": rng.choice([issuer, {"id": issuer}]),
            "credentialSubject": {"n": n % 7},
        }
    return Candidate(f"c{n}", fmt, claims)


DEFS = [
    {
        "id": "t",
        "constraints": {
            "fields": [
                {
                    "path": ["$.type", "$.vc.type"],
                    "filter": {"type": "array", "contains": {"const": "B"}},
                }
            ]
        },
    },
    {
        "id": "t1",
        "constraints": {
            "fields": [{"path": ["$.type"], "filter": {"type": "string", "const": "C"}}]
        },
    },
    {
        "id": "te",
        "constraints": {
            "fields": [{"path": ["$.type[*]", "$.vc.type[*]"], "filter": {"enum": ["A", "D"]}}]
        },
    },
    {
        "id": "i",
        "format": {"ldp_vc": {}, "jwt_vc": {}},
        "constraints": {
            "fields": [
                {"path": ["$.issuer", "$.issuer.id", "$.iss"], "filter": {"const": "did:ex:2"}}
            ]
        },
    },
    {
        "id": "v",
        "constraints": {
            "fields": [
                {"path": ["$.vct"], "filter": {"allOf": [{"type": "string"}, {"const": "urn:b"}]}},
                {"path": ["$.n"], "filter": {"minimum": 3}},
            ]
        },
    },
]


@pytest.mark.parametrize("descriptor", DEFS, ids=[d["id"] for d in DEFS])
def test_preselection_never_loses_a_match_and_narrows(descriptor: dict[str, Any]) -> None:
    rng = random.Random(descriptor["id"])
    wallet = [random_credential(rng, n) for n in range(600)]
    d = PresentationDefinition.parse({"id": "p", "input_descriptors": [descriptor]})
    query = query_for(d)
    assert query != {}
    preselected = [c for c in wallet if matches_query(index_terms(c), query)]
    full = [m.candidate.id for m in evaluate(d, wallet).matches[descriptor["id"]]]
    narrowed = [m.candidate.id for m in evaluate(d, preselected).matches[descriptor["id"]]]
    assert narrowed == full and full
    assert len(preselected) < len(wallet) / 2


def test_matches_query_refuses_unknown_forms() -> None:
    with pytest.raises(InputError):
        matches_query({}, {"a": {"$like": "x%"}})
    with pytest.raises(InputError):
        matches_query({}, {"$or": {"a": "b"}})
    assert matches_query({"a": "1"}, {"$or": [{"a": "2"}, {"a": {"$in": ["1"]}}]})
