# The two commands of the README, and the pieces they are made of.
.PHONY: up test services services-stop bootstrap

up:             ## start PostgreSQL, Redis, migrations, demo data, web, relay, worker, beat
	@scripts/up.sh

test:           ## lint, type-check and run the whole test suite (ARGS="..." goes to pytest)
	@scripts/test.sh $(ARGS)

services:       ## start only the project's PostgreSQL and Redis, in the background
	@python3 scripts/services.py start

services-stop:  ## stop the project's PostgreSQL and Redis
	@python3 scripts/services.py stop

bootstrap:      ## create or update .venv from uv.lock
	@scripts/bootstrap.sh
