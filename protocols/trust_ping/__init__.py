"""Trust Ping: is the other side there, and can it read me? (Aries RFC 0048; DIDComm v2.)"""
