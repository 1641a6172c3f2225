"""Ferry's Django project, in layers that only import downwards (adr/0013-layers.md):

    config/     Django configuration: settings, URLs, ASGI/WSGI, the Celery app
    web/        the site shell: layout, navigation by role, home, health, error pages
    dispatch/ learning/ ops/ audit/ live/
                the domain apps; none imports another
    accounts/   agencies (tenants) and their users; who may do what
    platform/   what every domain uses: environment, logs, errors, roles, tenancy,
                channel names, task definitions, the JSON API's conventions

`outbox/` and `relays/` sit beside it: domains write through `outbox`; `relays` drains it.
"""
