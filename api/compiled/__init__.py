"""The compiled read path: a query's whole selection as one SQL statement that builds
the response, under the same access and disclosure decisions as the reference
executor (Strawberry), which stays the executor of everything else.

``plan`` decides what each response key is and whether the viewer may see it;
``build`` writes the statement (``json_sql`` per dialect, ``catalog`` for tables and
row rules, ``binding`` for values bound per request); ``execute`` runs it and the
post-pass. ``api.view`` chooses the path per request.
"""
