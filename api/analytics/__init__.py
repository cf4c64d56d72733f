"""GraphQL for portfolio analytics, reports and the month-end close."""
