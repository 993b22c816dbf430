"""Mediation: the mediator's durable queues and delivery, and the client's pickup loop."""
