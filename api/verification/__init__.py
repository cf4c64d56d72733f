"""Verification of enterprises (KYC/KYB): cases, documents, reviews and disputes."""
