"""The site shell: the base layout, navigation by role, home and health pages, error pages.

The one layer above the domains that knows them all by URL name (to link to them); it
imports none of their code.
"""
