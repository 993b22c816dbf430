"""The example plugin, installed as its own package, end to end; and plugins the registry must
refuse.

``examples/plugin_hello`` is pip-installed into the test environment (once; editable), so
agents find it through the ``moi.protocols`` entry point exactly as they would a plugin from
PyPI. Two agents then list it, discover it in each other, and run its exchange in both
families through its own admin route. Plugins that declare a plugin API this runtime does not
serve, or a protocol URI already taken, or that fail to import, come from a distribution laid
on the agent's PYTHONPATH and must show up in ``GET /status`` as refused, with the agent
otherwise unharmed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.agent_procs import Swarm, connect, ensure_example_plugin, wait_until

HELLO = "https://example.org/hello/1.0"


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    ensure_example_plugin()


# -- the plugin's own rules, with no agent at all ------------------------------------------------


def test_machine_rules() -> None:
    from moi_plugin_hello import machine
    from moi_plugin_hello.messages import Hello, HelloBack

    from agent.errors import RemoteProtocolError

    mine = machine.start("t1", "c1", "Hi!", now=1.0)
    assert mine.state is machine.State.HELLO_SENT and mine.role is machine.Role.GREETER
    answered = machine.on_hello_back(mine, HelloBack("Hello to you too, A!", "Hi!"), now=2.0)
    assert answered.state is machine.State.ANSWERED and answered.reply == "Hello to you too, A!"
    assert machine.on_hello_back(answered, HelloBack("again", "Hi!"), now=3.0) == answered
    with pytest.raises(RemoteProtocolError, match="another greeting"):
        machine.on_hello_back(mine, HelloBack("x", "not what we said"), now=2.0)
    with pytest.raises(RemoteProtocolError) as err:
        machine.on_hello_back(None, HelloBack("x", "Hi!"), now=2.0)
    assert err.value.problem_code == "e.p.msg.unexpected"

    theirs, back = machine.on_hello("t2", "c2", Hello("Yo"), "Bob", now=1.0)
    assert back == HelloBack("Hello to you too, Bob!", "Yo")
    assert theirs.role is machine.Role.RESPONDER and theirs.id != mine.id
    assert machine.ExchangeRecord.from_json(theirs.to_json()) == theirs


class _Records:
    """An in-memory stand-in for the store a handler reads through ``ctx.records``."""

    def __init__(self, items: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.items = items or {}

    async def get(self, category: str, id: str, *, for_update: bool = False) -> Any:
        from types import SimpleNamespace

        from wallet.errors import RecordNotFound

        if (category, id) not in self.items:
            raise RecordNotFound(id)
        return SimpleNamespace(json=lambda: self.items[(category, id)])

    async def find(self, category: str, query: Any = None, **kw: Any) -> list[Any]:
        return []


def _context(message: Any, records: _Records) -> Any:
    from types import SimpleNamespace

    from agent.plugin import Family, HandlerContext

    connection = SimpleNamespace(
        id="c1",
        state="completed",
        family="v2",
        my_did="did:a",
        their_did="did:b",
        their_label="Bob",
    )
    return HandlerContext(
        message=message, connection=connection, records=records, family=Family.V2, now=5.0
    )


def test_handlers_return_effects_and_do_no_io() -> None:
    from moi_plugin_hello import machine
    from moi_plugin_hello.handlers import handle_hello, handle_hello_back

    from agent.errors import RemoteProtocolError
    from agent.plugin import Emit, Save, Send
    from wallet.didcomm.message import Message

    hello = Message(type=f"{HELLO}/hello", body={"greeting": "Hi!"}, id="t9")
    ctx = _context(hello, _Records())
    asyncio.run(handle_hello(ctx))
    kinds = [type(e) for e in ctx.effects]
    assert kinds == [Save, Send, Emit]
    reply = ctx.effects[1].message
    assert reply.type == f"{HELLO}/hello-back" and reply.thid == "t9"
    assert reply.body == {"greeting": "Hello to you too, Bob!", "in_reply_to": "Hi!"}

    sent = machine.start("t9", "c1", "Hi!", now=1.0)
    records = _Records({(machine.CATEGORY, sent.id): sent.to_json()})
    back = Message(type=f"{HELLO}/hello-back", body=reply.body, id="r1", thid="t9")
    ctx = _context(back, records)
    asyncio.run(handle_hello_back(ctx))
    saved = ctx.effects[0]
    assert isinstance(saved, Save) and saved.value["state"] == "answered"

    stray = _context(Message(type=back.type, body=reply.body, id="r2", thid="nope"), _Records())
    with pytest.raises(RemoteProtocolError):
        asyncio.run(handle_hello_back(stray))
    bad = _context(Message(type=hello.type, body={"greeting": 42}, id="t10"), _Records())
    with pytest.raises(RemoteProtocolError):
        asyncio.run(handle_hello(bad))


# -- installed, between two agents ---------------------------------------------------------------


@pytest.mark.slow
def test_installed_plugin_is_discovered_and_talks_in_both_families(tmp_path: Path) -> None:
    with Swarm(tmp_path) as swarm:
        alice = swarm.start("alice", label="Alice")
        bob = swarm.start("bob", label="Bob")
        for agent in (alice, bob):
            status = agent.admin("GET", "/status")
            assert HELLO in status["protocols"] and status["refused_plugins"] == []
            own = agent.admin("GET", "/features")
            for family in ("v1", "v2"):
                assert HELLO in {d["id"] for d in own[family]}
        for family in ("v1", "v2"):
            bobs, alices = connect(bob, alice, family)
            # Discover features, asked of the peer: its answer lists the plugin's URI.
            found = alice.admin("POST", f"/connections/{alices}/features", params={"match": "*"})
            assert HELLO in found, found
            only = alice.admin(
                "POST", f"/connections/{alices}/features", params={"match": "https://example.org/*"}
            )
            assert only == [HELLO]

            thread = alice.admin("POST", f"/hello/{alices}", {"greeting": f"Hi ({family})!"})["id"]

            def answered(thread: str = thread, ref: str = alices) -> list[dict[str, Any]]:
                mine = alice.admin("GET", f"/hello/{ref}")
                return [r for r in mine if r["thread_id"] == thread and r["state"] == "answered"]

            [record] = wait_until(answered, what=f"Bob's hello-back over {family}")
            assert record["reply"] == "Hello to you too, Alice!"
            assert record["greeting"] == f"Hi ({family})!" and record["role"] == "greeter"
            [theirs] = bob.admin("GET", f"/hello/{bobs}")
            assert theirs["thread_id"] == thread and theirs["role"] == "responder"
            received = bob.admin("GET", "/events", params={"topic": "hello.received"})
            assert any(e["payload"]["thread_id"] == thread for e in received)

            # The plugin's route is behind the key like every other admin route, and its
            # errors map like theirs.
            assert alice.request("POST", f"/hello/{alices}", {}, key=None)[0] == 401
            assert alice.request("POST", "/hello/nobody", {})[0] == 404
            assert alice.request("POST", f"/hello/{alices}", {"greeting": 7})[0] == 400


# -- refused plugins ---------------------------------------------------------------------------

BAD_PLUGINS = """
from agent.plugin import Family, ProtocolPlugin

async def _noop(ctx):
    return None

FUTURE = ProtocolPlugin(
    piuri="https://example.org/future/1.0", family=Family.V2, roles=("a",),
    handlers={"x": _noop}, plugin_api=99,
)
DUPLICATE_CORE = ProtocolPlugin(
    piuri="https://didcomm.org/basicmessage/2.0", family=Family.V2, roles=("a",),
    handlers={"message": _noop},
)
DUPLICATE_HELLO = ProtocolPlugin(
    piuri="https://example.org/hello/1.0", family=Family.V1, roles=("a",),
    handlers={"hello": _noop},
)
NOT_A_PLUGIN = object()
"""


def _bad_distribution(root: Path) -> Path:
    """A distribution laid out by hand on a PYTHONPATH entry: importlib.metadata reads its
    entry points just as it reads those of an installed wheel."""
    site = root / "bad-site"
    info = site / "moi_bad_plugins-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: moi-bad-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[moi.protocols]\n"
        "future = moi_bad_plugins:FUTURE\n"
        "duplicate_core = moi_bad_plugins:DUPLICATE_CORE\n"
        "zz_duplicate_hello = moi_bad_plugins:DUPLICATE_HELLO\n"
        "not_a_plugin = moi_bad_plugins:NOT_A_PLUGIN\n"
        "missing = moi_bad_plugins_nowhere:PLUGIN\n"
    )
    (site / "moi_bad_plugins.py").write_text(BAD_PLUGINS)
    return site


@pytest.mark.slow
def test_bad_plugins_are_refused_and_reported(tmp_path: Path) -> None:
    site = _bad_distribution(tmp_path)
    with Swarm(tmp_path) as swarm:
        agent = swarm.add("agent", env={"PYTHONPATH": str(site)})
        agent.start()
        status = agent.admin("GET", "/status")
        refused = status["refused_plugins"]
        text = "\n".join(refused)
        assert len(refused) == 5, refused
        assert "future" in text and "plugin API 99" in text
        assert "basicmessage/2.0" in text and "already provided by" in text
        assert "zz_duplicate_hello" in text and "already provided by hello" in text
        assert "not_a_plugin (moi_bad_plugins:NOT_A_PLUGIN): an entry point must give" in text
        assert "missing (moi_bad_plugins_nowhere:PLUGIN): failed to load" in text
        # The refused ones are not served; the rest are.
        assert "https://example.org/future/1.0" not in status["protocols"]
        assert HELLO in status["protocols"]
        features = agent.admin("GET", "/features")["v2"]
        basic = [d for d in features if d["id"] == "https://didcomm.org/basicmessage/2.0"]
        assert basic == [
            {"feature-type": "protocol", "id": basic[0]["id"], "roles": ["sender", "receiver"]}
        ]
