"""CSV imports: reading a file within bounds (``csv_reading``), one row into the store's data
(``csv_parsers``), and the import itself, all-or-nothing with every error in one pass
(``csv_import``)."""
