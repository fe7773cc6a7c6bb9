#!/bin/bash
# The image's health check: GET $1 (/healthz or /readyz) from tfproxy's health port, with bash
# alone (the slim image has no curl). Exit 0 on "200 OK".
set -euo pipefail
exec 3<>"/dev/tcp/127.0.0.1/${TFPROXY_HEALTH_PORT:-8080}"
printf 'GET %s HTTP/1.0\r\n\r\n' "${1:-/healthz}" >&3
IFS= read -r status <&3
[[ "$status" == *" 200 "* ]]
