"""What every domain uses: configuration readers, logs, errors, roles, tenancy, channel
names, task definitions and the JSON API's conventions. Imports nothing of Ferry above it."""
