"""The agent: one process holding a wallet, its listeners, its queues and its workers.

``Agent.start`` opens everything in dependency order and ``stop`` closes it in reverse. The
agent's own logic is small: ``receive`` (bytes in → stored in the inbox → handled later) and
``deliver`` (an outbox item → packed for its connection → sent). Everything else lives in the
protocols it loads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from protocols import routing
from wallet import Wallet
from wallet.did import WebResolver
from wallet.didcomm.message import Message
from wallet.didcomm.packing import did_of
from wallet.errors import MoiError, RecordNotFound

from . import inbox
from .config import ADMIN_FILE, Config
from .connections import Connections, canonical_did
from .dispatcher import Dispatcher
from .errors import RemoteProtocolError
from .events import EventBus, WebhookWorker
from .mediation.client import MediationClient
from .mediation.mediator import Mediator
from .mediation.queue import Limits
from .outbox import OutboxItem, OutboxWorker, PermanentDeliveryError
from .plugin import Effect, Family, Send
from .registry import Registry
from .retention import Janitor
from .sending import Sender
from .sessions import HttpReturn, Sessions, wants_return_route
from .transport.inbound import build_app
from .transport.outbound import Outbound

log = logging.getLogger("moi.agent")

#: The endpoint of an agent nobody can reach, which collects over return routes.
QUEUE_ENDPOINT = "didcomm:transport/queue"


class Agent:
    def __init__(
        self,
        config: Config,
        wallet: Wallet,
        *,
        home: Path | None = None,
        registry: Registry | None = None,
        admin_key: str | None = None,
    ) -> None:
        self.config = config
        self.wallet = wallet
        self.store = wallet.store
        self.home = home
        self.admin_key = admin_key
        self.registry = registry or Registry()
        if config.allow_private_fetch:
            # did:web hosts on the organisation's own network, allowed by its operator.
            web_resolver = WebResolver(allow_private=config.allow_private_fetch)
            wallet.resolver.register(web_resolver, replace=True)
        if registry is None:
            self.registry.load_entry_points()
        self.connections = Connections(self.store)
        self.bus = EventBus(self.store)
        self.outbound = Outbound()
        self.sessions = Sessions()
        self.sender = Sender(wallet, self.outbound, self.sessions, prefer=config.prefer)
        self.outbox = OutboxWorker(self.store, self.deliver, on_dead=self._dead_letter)
        self.janitor = Janitor(self.store, config.retention)
        self.services: dict[str, Any] = {
            "wallet": wallet,
            "agent": self,
            "features": self.registry.features,
            "config": config,
        }
        self.dispatcher = Dispatcher(
            store=self.store,
            registry=self.registry,
            bus=self.bus,
            outbox_worker=self.outbox,
            services=self.services,
            concurrency=config.workers,
            connections=self.connections,
        )
        self.mediator: Mediator | None = None
        if config.mediator:
            self.mediator = Mediator(
                self,
                auto_grant=config.auto_grant,
                deny=config.mediator_deny,
                limits=Limits(
                    max_messages=config.queue_max_messages,
                    max_bytes=config.queue_max_bytes,
                    max_age=config.queue_max_age,
                    max_message_bytes=config.queue_max_message_bytes,
                ),
                rate=config.forward_rate,
                burst=config.forward_burst,
            )
            self.services["mediator"] = self.mediator
            for plugin in (routing.PLUGIN_V1, routing.PLUGIN_V2):
                if (plugin.family, plugin.piuri) not in self.registry.plugins:
                    self.registry.register(plugin, source="mediator")
        self.mediation = MediationClient(self)
        self.services["mediation_client"] = self.mediation
        self.webhooks: list[WebhookWorker] = []
        self._return_routes: dict[str, HttpReturn] = {}
        self.dispatcher.on_handled = self._handled
        self._runners: list[web.AppRunner] = []
        self.inbound_port: int | None = None
        self.admin_port: int | None = None
        self.started = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, *, inbound: bool = True, admin: bool = True) -> None:
        self.started = time.time()
        if inbound and not self.config.no_inbound:
            app = build_app(
                self.receive,
                max_bytes=self.config.max_message_bytes,
                status_lists=self.status_list,
            )
            self.inbound_port = await self._serve(app, self.config.host, self.config.port)
        for url in self.config.webhook_urls:
            worker = WebhookWorker(self.store, self.bus, url, self.outbound.session)
            worker.start()
            self.webhooks.append(worker)
        await self.dispatcher.start()
        await self.outbox.start()
        self.janitor.start()
        if self.mediator is not None:
            self.mediator.start()
        await self.mediation.start()
        if admin:
            from .admin.app import build_admin_app

            admin_app = build_admin_app(self)
            self.admin_port = await self._serve(
                admin_app, self.config.admin_host, self.config.admin_port
            )
            self._write_admin_file()
        log.info(
            "agent %r listening: inbound %s, admin %s",
            self.config.label,
            self.endpoint,
            self.admin_url if admin else "off",
        )

    async def _serve(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=512)
        await site.start()
        self._runners.append(runner)
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        return sockets[0].getsockname()[1] if sockets else port

    @property
    def endpoint(self) -> str:
        if self.config.endpoint:
            return self.config.endpoint
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.inbound_port or self.config.port}"

    @property
    def ws_endpoint(self) -> str:
        if self.config.ws_endpoint:
            return self.config.ws_endpoint
        base = self.endpoint.rstrip("/")
        scheme, rest = base.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"

    @property
    def admin_url(self) -> str:
        host = self.config.admin_host
        host = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.admin_port or self.config.admin_port}"

    def _write_admin_file(self) -> None:
        if self.home is None:
            return
        path = self.home / ADMIN_FILE
        tmp = path.with_suffix(".tmp")
        # The file carries the admin key: create it private, before anything is written.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"url": self.admin_url, "key": self.admin_key, "pid": os.getpid()}, handle)
        tmp.replace(path)

    async def stop(self) -> None:
        await self.mediation.close()
        if self.mediator is not None:
            await self.mediator.close()
        for worker in self.webhooks:
            await worker.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        await self.janitor.close()
        await self.dispatcher.close()
        await self.outbox.close()
        await self.outbound.close()
        if self.home is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.home / ADMIN_FILE).unlink()

    # -- inbound ----------------------------------------------------------------------------

    async def receive(self, data: bytes, session: Any = None, *, inline: bool = True) -> str:
        """Unpack, store in the inbox, and queue for handling; the sender's ack follows.

        ``session`` is the transport the message came on; when the message asks for a return
        route, replies to its sender go back on it. ``inline=False`` only stores and queues:
        a caller reading a stream (the mediation client's socket) must not run a handler
        that may wait for a later message of that same stream.
        """
        unpacked = await self.wallet.unpack(data)
        meta = unpacked.metadata
        family = Family.V1 if meta.version == "v1" else Family.V2
        message = unpacked.message
        msg_type = message.get("type") if family is Family.V2 else message.get("@type")
        if msg_type in routing.FORWARD_TYPES:
            if self.mediator is None:
                raise RemoteProtocolError("this agent is not a mediator", "e.p.msg.unsupported")
            client = getattr(session, "remote", None)
            return await self.mediator.accept_forward(message, family, client)
        if family is Family.V2:
            frm = message.get("from")
            sender = canonical_did(did_of(frm)) if isinstance(frm, str) else None
        else:
            sender = meta.sender_kid
        if (
            self.mediator is not None
            and sender
            and await self.mediator.take_ack(message, family, sender)
        ):
            return "accepted"  # a live recipient's acknowledgement, applied on arrival
        lane = sender or f"anonymous:{message.get('thid') or message.get('id')}"
        return_route = session is not None and sender and wants_return_route(message, family.value)
        item = inbox.new_item(
            sender=sender,
            lane=lane,
            family=family.value,
            message=message,
            metadata=meta.to_json(),
        )
        if return_route:
            session.wanted = True
            self.sessions.add(sender, session)
            if isinstance(session, HttpReturn):
                self._return_routes[item.id] = session
        outcome = await self.dispatcher.try_inline(item) if inline else None
        if outcome is None:
            if not await inbox.store_item(self.store, item):
                outcome = "duplicate"
            else:
                self.dispatcher.submit(item)
                outcome = "accepted"
        if outcome == "duplicate" and isinstance(session, HttpReturn):
            self._return_routes.pop(item.id, None)
            session.release()
        return outcome

    def _handled(self, item: Any, connection_id: str | None, effects: list[Effect]) -> None:
        """An HTTP response held for replies goes as soon as none are coming."""
        session = self._return_routes.pop(item.id, None)
        if session is None:
            return
        # Any message queued now may be the reply (a handshake answers on a connection the
        # handler just made); the Sender releases the response if it takes another way.
        if not any(isinstance(e, Send) for e in effects):
            session.release()

    async def status_list(self, list_id: str) -> tuple[bytes, str]:
        """``GET /status/{list_id}``: a status list this agent's wallet issued, signed anew."""
        # Imported here: the credential modules cost every other start a third of a second.
        from wallet.credentials.issuer import status_list_document

        return await status_list_document(self.wallet, list_id)

    # -- identity -------------------------------------------------------------------------

    async def create_did(self, method: str, family: Family, *, label: str | None = None) -> str:
        """A new DID for a relationship: our endpoints, or the mediator's when mediated (and
        then registered with the mediator before anyone can use it)."""
        mediated = await self.mediation.routing_for(family)
        if mediated is not None:
            endpoints, routing_keys = mediated
        else:
            endpoints, routing_keys = self.own_endpoints(), []
        # Aries agents look for the v1 service form (RFC 0067) alone: a v2 DIDCommMessaging
        # service, even one accepting RFC 0019 envelopes, leaves them with nowhere to send.
        service_type = "did-communication" if family is Family.V1 else "DIDCommMessaging"
        did = await self.wallet.create_did(
            method,
            endpoints=endpoints,
            routing_keys=routing_keys,
            label=label,
            service_type=service_type,
        )
        if mediated is not None:
            await self.mediation.register(did, family)
        return did

    def own_endpoints(self) -> list[str]:
        if self.config.no_inbound:
            # No address to give, but a service all the same: Aries agents (ACA-Py) refuse a
            # DID with no service ("Cannot connect via DID that has no associated services")
            # and a mediator needs one to reach us over our own session. The queue transport
            # says "hold it; I collect over the connections I open" (return_route).
            return [QUEUE_ENDPOINT]
        return [self.endpoint, self.ws_endpoint]

    # -- outbound ---------------------------------------------------------------------------

    async def commit(self, effects: Sequence[Effect]) -> None:
        await self.dispatcher.commit(effects)

    async def deliver(self, item: OutboxItem) -> None:
        message = Message.from_json(item.message)
        if item.connection_id.startswith("did:"):
            if not message.frm:
                raise PermanentDeliveryError("a message to a bare DID needs a sender")
            reply = await self.sender.send_to_did(message, message.frm, item.connection_id)
        else:
            try:
                connection = await self.connections.get(item.connection_id)
            except RecordNotFound as err:
                raise PermanentDeliveryError("the connection was deleted") from err
            reply = await self.sender.send(
                message, connection, return_route=self.wants_replies_on(connection.id)
            )
        if reply is not None:
            # The peer answered in the HTTP response (our return_route): take it as inbound.
            try:
                await self.receive(reply)
            except MoiError as err:
                log.info("a reply in an HTTP response was refused: %s", err)

    def wants_replies_on(self, connection_id: str) -> bool:
        """Ask for return routes where replies could not reach us otherwise."""
        if self.config.no_inbound:
            return True
        client = self.services.get("mediation_client")
        return client is not None and client.is_mediator(connection_id)

    async def _dead_letter(self, item: OutboxItem) -> None:
        from .plugin import Emit

        await self.commit(
            [
                Emit(
                    "message.dead_lettered",
                    {
                        "message_id": item.id,
                        "connection_id": item.connection_id,
                        "error": item.error,
                    },
                )
            ]
        )
