#!/usr/bin/env bash
# tests/e2e/nginx-daemon-nosendfile.sh — nginx with `daemon on` and
# `sendfile off` under the shim: see nginx.sh.
NGINX_DAEMON=on NGINX_SENDFILE=off exec bash "$(dirname "$0")/nginx.sh"
