"""GraphQL for enterprises: registration, profiles and financial statements."""
