"""Accounts: users, password hashes and API tokens."""
