"""Collateral and guarantees of a loan through GraphQL."""
