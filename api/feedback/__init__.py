"""Service ratings and support tickets through GraphQL."""
