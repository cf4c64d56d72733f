"""Feedback: service ratings and support tickets."""
