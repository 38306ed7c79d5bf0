"""The append-only staff action log (who did what, when and why)."""
