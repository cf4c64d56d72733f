"""GraphQL for applications: drafts, submission, review, decisions, appeals and signing."""
