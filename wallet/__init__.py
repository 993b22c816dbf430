"""moi's wallet layer: keys, DIDs, DIDComm envelopes, credentials and encrypted storage.

Usable alone as a library; it never imports the agent runtime or the protocols.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Wallet"]

if TYPE_CHECKING:
    from .wallet import Wallet


def __getattr__(name: str) -> Any:
    # Imported lazily so that `import wallet.keys` stays light for scripts and plugins.
    if name == "Wallet":
        from .wallet import Wallet

        return Wallet
    raise AttributeError(name)
