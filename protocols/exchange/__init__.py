"""What the two credential exchanges share: issue-credential and present-proof.

Both keep one record per exchange (thread) and role, found by (connection, thread, role);
both carry format-tagged attachments in either DIDComm family; both end in ``done`` or
``abandoned``, with a problem report to the peer; and a person's action on either waits on
the exchange the same way. Here are those shared parts, each protocol's package supplying
what differs (its record class, its message URIs, its event topics):

- :mod:`.kind` -- what the shared code needs to know of one protocol (:class:`ExchangeKind`);
- :mod:`.records` -- the exchange record's common fields, codec, tags and lookups;
- :mod:`.attachments` -- format-tagged attachments, bounded and checked;
- :mod:`.messages` -- the attaching messages' codec, ``ack`` and ``problem-report``;
- :mod:`.rules` -- pure rules both machines apply (expected state, abandon, a peer's report);
- :mod:`.handling` -- handler glue: save and announce, refuse, a peer's problem report;
- :mod:`.actions` -- a person's actions: the thread lock, committing, listing, waiting.

This package is not a protocol (it registers nothing); it imports no other protocol.
"""
