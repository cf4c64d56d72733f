"""SME profiles and their yearly financial statements."""
