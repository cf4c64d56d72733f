"""GraphQL for privacy: consent, preferences, subject requests, masking policies,
break glass and retention."""
