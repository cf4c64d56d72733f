"""Background work on a job queue: procrastinate on PostgreSQL, in process on SQLite.

``models`` is the record the API reads (state, progress, error) on either database;
``queue`` builds the procrastinate App and its connector; ``tasks`` holds the work.
"""
