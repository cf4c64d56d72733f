"""The kernel: what every layer stands on and that knows nothing of lending:
base types and the ORM base, errors, the database engine and sessions, events,
formats, pagination, bulk writes, metrics and tracing. It imports no other layer."""
