/* shim/auth_glue.h — PROMSHIM_AUTH_FILE for the exporter: core/auth with
 * libcrypt's crypt_r (loaded with dlopen when serving starts, and only
 * when the auth file has a basic entry), a random cache key, the
 * client's address as the throttling key and the monotonic clock.
 * Serving thread only (it calls these under the exporter's lock).
 */
#ifndef PROMSHIM_SHIM_AUTH_GLUE_H
#define PROMSHIM_SHIM_AUTH_GLUE_H

#include <sys/socket.h>

#include "auth.h"

/* Load libcrypt (when a basic entry exists) and draw the cache key. Call
 * it where a fork cannot interrupt a dlopen; shim_auth_check does it
 * otherwise. Does nothing without an auth file. */
void shim_auth_load(void);

/* Decide on a request to /metrics. header: its Authorization value or
 * NULL; client: the peer address or NULL. AUTH_OK when no auth file is
 * configured. */
enum auth_result shim_auth_check(const char *header, const struct sockaddr *client);

#endif
