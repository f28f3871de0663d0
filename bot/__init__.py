"""The application's edges: conversations, webhooks, the agents' tools, settings and the CLI."""
