"""Accounts: users, roles, argon2 passwords, JWT sessions, guards, rate limits."""
