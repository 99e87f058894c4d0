"""The provider's inventory as rows: accounts, pools, resources, IPs, send log, statistics.

``model.py`` holds one record type per table and the row error; ``rows.py`` turns one
row of an import file or API call (a mapping of strings and JSON values) into a record;
``files.py`` reads CSV and JSON Lines files, plain or gzipped, into such rows.
"""
