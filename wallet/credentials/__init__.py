"""Verifiable credentials: data model, Data Integrity proofs, JOSE / SD-JWT, status lists."""
