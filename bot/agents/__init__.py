"""What agents see and do outside the web dashboard's own code: the board's views (``views``)
and the broadcast service (``broadcasts``) shared by the dashboard, the API, the CLI and the
agents' Telegram commands."""
