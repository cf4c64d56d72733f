"""Onboarding institutions, managing staff, one's own password and sessions."""
