#!/usr/bin/env bash
# Make sure the services the integration tests talk to are up on 127.0.0.1:
# PostgreSQL (5432) and Redis (6379). Starts each one that is installed but stopped;
# fails with a clear message when one is missing. Used by `make test`.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    echo "PostgreSQL is not running on 127.0.0.1:5432 and is not installed here." >&2
    echo "Install it (apt-get install postgresql) or point the tests at one." >&2
    exit 1
  fi
fi

if ! up 6379; then
  if command -v redis-server >/dev/null; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  else
    echo "Redis is not running on 127.0.0.1:6379 and is not installed (apt-get install redis-server)." >&2
    exit 1
  fi
fi

for i in $(seq 1 30); do
  if up 5432 && up 6379; then exit 0; fi
  sleep 1
done
echo "PostgreSQL or Redis did not come up within 30 s." >&2
exit 1
