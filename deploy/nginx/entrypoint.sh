#!/bin/sh
# Entry point of the frontend image: finds the DNS server that knows the
# compose service names and hands over to the nginx image's own entrypoint,
# which renders the templates (SERVICE_RESOLVER among their variables).
# Docker's embedded DNS (127.0.0.11) is the only nameserver in a compose
# container's resolv.conf; podman lists its own (aardvark-dns) first and then
# the host's, which answer "no such name" for a service. nginx would ask
# every listed server in turn, so only the first is taken.
set -e
if [ -z "${SERVICE_RESOLVER:-}" ]; then
    SERVICE_RESOLVER=$(awk '$1 == "nameserver" {
        addr = $2; if (index(addr, ":")) addr = "[" addr "]"
        print addr; exit
    }' /etc/resolv.conf)
    export SERVICE_RESOLVER="${SERVICE_RESOLVER:-127.0.0.11}"
fi
exec /docker-entrypoint.sh "$@"
