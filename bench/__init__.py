"""Tooling apart from the product: benchmarks, the chaos harness, load and stream clients.

Nothing in the product imports this package (an import-linter contract in `make test` keeps
it so). Its management commands (relay_bench, heal_bench, chaos) are thin entry points;
the other tools run as modules (`python -m bench.solver`, `python -m bench.dispatch`, ...).
See the README's "Measured figures" and each tool's docstring.
"""
