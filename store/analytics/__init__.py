"""What the shop's history says: the supplier scorecard and where waiting costs customers.

Read-only queries over what the store writes as things happen (``order_lines``' milestones,
``offers``, ``refunds``, ``eta_changes``, ``stock_receipts``), each figure defined in its
function's docstring. ``suppliers`` is the scorecard, ``waiting`` the process analysis,
``common`` the distributions and time helpers they share, ``export`` the flat rows for CSV.
"""
