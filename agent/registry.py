"""The protocol registry, fed by the ``moi.protocols`` entry points.

Built-in protocols register through moi's own entry points exactly as a third-party plugin
does. The registry refuses a plugin whose plugin API it cannot serve and a second plugin for a
protocol URI already taken (in the same family), and it answers discover-features.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from wallet.errors import MoiError

from .plugin import PLUGIN_API_VERSION, Family, Handler, ProtocolPlugin, split_type

log = logging.getLogger("moi.registry")

ENTRY_POINT_GROUP = "moi.protocols"
#: The generic problem report of each family, whose handler also takes the reports other
#: protocols adopt (RFC 0035: ``<protocol>/problem-report`` or ``problem_report``; Aries
#: agents send their generic one as ``notification/1.0/problem-report``).
REPORT_PROBLEM = {
    Family.V1: "https://didcomm.org/report-problem/1.0",
    Family.V2: "https://didcomm.org/report-problem/2.0",
}
PROBLEM_NAMES = frozenset({"problem-report", "problem_report"})


class PluginError(MoiError):
    """A plugin could not be loaded or registered."""


class DuplicateProtocol(PluginError):
    """Two plugins claim the same protocol URI in the same family."""


class UnsupportedPluginAPI(PluginError):
    """The plugin was written for a plugin API this runtime does not serve."""


@dataclass
class Registry:
    plugins: dict[tuple[Family, str], ProtocolPlugin] = field(default_factory=dict)
    sources: dict[tuple[Family, str], str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def register(self, plugin: ProtocolPlugin, *, source: str = "code") -> None:
        if not isinstance(plugin, ProtocolPlugin):
            raise PluginError(f"{source}: not a ProtocolPlugin ({type(plugin).__name__})")
        if plugin.plugin_api != PLUGIN_API_VERSION:
            raise UnsupportedPluginAPI(
                f"{source}: plugin API {plugin.plugin_api}, this runtime serves "
                f"{PLUGIN_API_VERSION}"
            )
        key = (plugin.family, plugin.piuri)
        if key in self.plugins:
            raise DuplicateProtocol(
                f"{source}: {plugin.piuri} ({plugin.family}) is already provided by "
                f"{self.sources[key]}"
            )
        self.plugins[key] = plugin
        self.sources[key] = source

    def load_entry_points(self, eps: Iterable[EntryPoint] | None = None) -> None:
        """Load every ``moi.protocols`` entry point; refuse (and record) the bad ones."""
        if eps is None:
            eps = entry_points(group=ENTRY_POINT_GROUP)
        # Built-ins first, so a third-party plugin cannot shadow a core protocol.
        ordered = sorted(eps, key=lambda ep: (not ep.value.startswith("protocols."), ep.name))
        for ep in ordered:
            source = f"{ep.name} ({ep.value})"
            try:
                loaded = ep.load()
                for plugin in _plugins_of(loaded, source):
                    self.register(plugin, source=source)
            except PluginError as err:
                self.refused.append(str(err))
                log.warning("plugin refused: %s", err)
            except Exception as err:  # a broken plugin must not stop the agent
                message = f"{source}: failed to load: {type(err).__name__}: {err}"
                self.refused.append(message)
                log.warning("plugin refused: %s", message)

    def handler_for(self, family: Family, msg_type: str) -> tuple[ProtocolPlugin, Handler] | None:
        piuri, name = split_type(msg_type)
        plugin = self.plugins.get((family, piuri))
        if plugin is None:
            # Minor versions are compatible (RFC 0003): 1.1 is served by a 1.0 handler.
            plugin = self._same_major(family, piuri)
        handler = plugin.handlers.get(name) if plugin is not None else None
        if handler is None and name in PROBLEM_NAMES:
            # A protocol's adopted report that no plugin of that protocol takes itself.
            plugin = self.plugins.get((family, REPORT_PROBLEM[family]))
            handler = plugin.handlers.get("problem-report") if plugin is not None else None
        return (plugin, handler) if plugin is not None and handler is not None else None

    def _same_major(self, family: Family, piuri: str) -> ProtocolPlugin | None:
        base, _, version = piuri.rpartition("/")
        major = version.split(".", 1)[0]
        for (fam, uri), plugin in self.plugins.items():
            if fam is family and uri.rpartition("/")[0] == base:
                if uri.rpartition("/")[2].split(".", 1)[0] == major:
                    return plugin
        return None

    def features(self, family: Family) -> list[Any]:
        from protocols.discover_features.messages import Disclosure

        return [
            Disclosure("protocol", plugin.piuri, tuple(plugin.roles))
            for (fam, _), plugin in sorted(self.plugins.items())
            if fam is family
        ]

    def __iter__(self) -> Iterator[ProtocolPlugin]:
        return iter(self.plugins.values())


def _plugins_of(loaded: Any, source: str) -> list[ProtocolPlugin]:
    if callable(loaded) and not isinstance(loaded, ProtocolPlugin):
        loaded = loaded()
    if isinstance(loaded, ProtocolPlugin):
        return [loaded]
    if isinstance(loaded, (list, tuple)):
        return list(loaded)
    raise PluginError(
        f"{source}: an entry point must give a ProtocolPlugin or a list, "
        f"not a {type(loaded).__name__}"
    )
