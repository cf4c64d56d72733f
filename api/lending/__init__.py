"""GraphQL for loans: disbursement, schedules, repayments, reversals and charges."""
