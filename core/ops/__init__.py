"""Ops: heal runs and the figures ops watch."""
