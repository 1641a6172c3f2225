"""Agencies (tenants) and their users, and who may do what."""
