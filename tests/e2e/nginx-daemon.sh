#!/usr/bin/env bash
# tests/e2e/nginx-daemon.sh — nginx with `daemon on` (the master forks away
# from its parent) under the shim: see nginx.sh.
NGINX_DAEMON=on NGINX_SENDFILE=on exec bash "$(dirname "$0")/nginx.sh"
