"""GraphQL for loans in difficulty: recoveries after write-off."""
