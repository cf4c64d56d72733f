"""HTTP and GraphQL: a thin adapter over domain/."""
