"""Loans in difficulty after default: recoveries on written-off loans."""
