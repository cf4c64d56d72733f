"""Contracts after the signature: amendments, their versions, and termination."""
