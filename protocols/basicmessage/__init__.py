"""Basic Message: plain text between two parties (Aries RFC 0095; DIDComm v2 basicmessage 2.0).

Both versions keep one kind of record, ``basicmessage``: id, connection, direction, content
and time, so a person sees one conversation whichever family the peer speaks.
"""
