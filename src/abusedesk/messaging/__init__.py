"""Customer messages at the edge: sandboxed templates, keys, and delivery by SMTP or outbox folder."""
