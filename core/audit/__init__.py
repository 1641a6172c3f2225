"""Audit: the outbox history for auditors and ops, in pages, a JSON API and exports."""
