"""External data over GraphQL: fetching it about an enterprise, and reading what was kept."""
