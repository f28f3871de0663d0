"""Suppliers in the loop: asking them for dates by e-mail, and their private page."""
