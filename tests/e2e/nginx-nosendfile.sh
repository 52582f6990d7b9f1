#!/usr/bin/env bash
# tests/e2e/nginx-nosendfile.sh — nginx with `sendfile off` (bodies go
# through writev, the tracker sees every byte) under the shim: see nginx.sh.
NGINX_DAEMON=off NGINX_SENDFILE=off exec bash "$(dirname "$0")/nginx.sh"
