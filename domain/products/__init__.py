"""The catalog of financing products institutions offer."""
