#!/bin/sh
# One database and one role per service, so a service's credentials open its own database only.
# POSTGRES_SERVICE_DATABASES="monolith proxy"; each role's password is in <NAME>_DB_PASSWORD.
set -eu
for name in ${POSTGRES_SERVICE_DATABASES}; do
  var="$(echo "${name}" | tr 'a-z-' 'A-Z_')_DB_PASSWORD"
  password="$(printenv "${var}")"
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres <<SQL
CREATE ROLE "${name}" LOGIN PASSWORD '${password}';
CREATE DATABASE "${name}" OWNER "${name}";
REVOKE ALL ON DATABASE "${name}" FROM PUBLIC;
SQL
done
