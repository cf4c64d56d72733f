"""External data: business registries, credit bureaus and bank statements, fetched over
HTTP with consent, logged, and kept with their source, date and hash."""
