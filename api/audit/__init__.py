"""GraphQL for auditors: the audit log, the access log, records of processing, integrity."""
