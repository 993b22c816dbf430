"""Transports: the inbound HTTP/WebSocket listener and the outbound HTTP/WebSocket clients."""
