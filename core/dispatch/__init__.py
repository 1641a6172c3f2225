"""Dispatch: clinicians, visits, Optimize Day and route plans."""
