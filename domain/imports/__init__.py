"""Bulk import of enterprises and their statements: reading, cleaning, merging."""
