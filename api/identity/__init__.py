"""GraphQL for identity: signing in, the viewer, institutions, roles and policy changes."""
