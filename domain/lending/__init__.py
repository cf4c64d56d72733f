"""Loans, their repayment schedules, repayments and delinquency."""
