"""GraphQL and HTTP for background jobs: their runs, progress and files."""
