/* core/config.h — parsing promshim's configuration (SPEC 3).
 *
 * The caller supplies a lookup for environment variables and a reader for
 * the files they name (core does no I/O); cfg_load fills a struct
 * ps_config or returns one clear line naming the variable and the problem.
 * cfg_load allocates (compiled route sets, auth entries); it runs in the
 * library constructor or in `promshim --check`, never in a hook.
 */
#ifndef PROMSHIM_CORE_CONFIG_H
#define PROMSHIM_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "registry.h"
#include "route.h"

#define CFG_MAX_LABELS 16
#define CFG_MAX_PORTS 64
#define CFG_ERR_MAX 512
#define CFG_LISTEN_DEFAULT_PORT 9464     /* default PROMSHIM_LISTEN is 127.0.0.1:9464 */
#define CFG_MAX_SERIES_DEFAULT 2000
#define CFG_MAX_SERIES_LIMIT 1000000     /* PROMSHIM_MAX_SERIES above this is an error */
#define CFG_COLLAPSE_AFTER_DEFAULT 100
#define CFG_COLLAPSE_AFTER_MAX 1000000

enum cfg_naming { CFG_NAMING_PROMETHEUS = 0, CFG_NAMING_OTEL };
enum cfg_log { CFG_LOG_OFF = 0, CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

struct cfg_label {
	char *name;  /* valid Prometheus label name, not reserved */
	char *value; /* valid UTF-8 */
};

enum cfg_auth_kind { CFG_AUTH_BASIC = 0, CFG_AUTH_BEARER };
struct cfg_auth {
	enum cfg_auth_kind kind;
	char *user;   /* basic only */
	char *secret; /* crypt(3) hash for basic, the token for bearer */
};

/* Reads a whole file; returns 0 and a malloc'd NUL-terminated buffer, or -1
 * with a reason in err. mode receives st_mode (for permission checks and
 * "is not a regular file"). The reason is the bare cause, such as
 * strerror(errno): cfg_load prints "VAR: cannot read PATH: <reason>", so
 * the library and `promshim --check` word the same problem alike. */
typedef int (*cfg_readfile_fn)(const char *path, char **text, size_t *len, unsigned *mode, char *err,
			       size_t errlen);
/* Returns the variable's value or NULL when unset. */
typedef const char *(*cfg_getenv_fn)(const char *name);

struct ps_config {
	int listen_off;                  /* PROMSHIM_LISTEN=off */
	struct sockaddr_storage listen;  /* numeric address and port */
	socklen_t listen_len;
	struct route_set *routes;        /* PROMSHIM_ROUTES (may be NULL) */
	struct route_set *exclude;       /* PROMSHIM_EXCLUDE (may be NULL) */
	int heuristic;                   /* PROMSHIM_HEURISTIC on/off */
	unsigned collapse_after;         /* PROMSHIM_COLLAPSE_AFTER, default 100 */
	struct reg_config reg;           /* max_series and duration buckets */
	int buckets_set;                 /* PROMSHIM_BUCKETS given explicitly */
	unsigned n_labels;
	struct cfg_label labels[CFG_MAX_LABELS]; /* PROMSHIM_LABELS, in order */
	unsigned n_ports;
	uint16_t ports[CFG_MAX_PORTS];   /* PROMSHIM_PORTS; 0 entries = all */
	enum cfg_naming naming;
	unsigned n_auth;
	struct cfg_auth *auth;           /* PROMSHIM_AUTH_FILE entries */
	char *tls_cert;                  /* PEM text of PROMSHIM_TLS_CERT, or NULL */
	char *tls_key;                   /* PEM text of PROMSHIM_TLS_KEY, or NULL */
	enum cfg_log log;
};

/* Fill c with defaults, then apply the environment. Returns 0, or -1 with
 * one line in err such as "PROMSHIM_LISTEN: bad port '99999' in ':99999'
 * (want 1..65535)". On error c holds nothing that needs freeing.
 * An empty variable counts as unset. ":port" listens on every IPv4
 * interface ("[::]:port" for dual stack). Secrets (auth file lines, the
 * TLS key) never appear in err. Not thread-safe; run it once at start-up. */
int cfg_load(struct ps_config *c, cfg_getenv_fn getenv_fn, cfg_readfile_fn readfile, char *err,
	     size_t errlen);

/* Release what cfg_load allocated. */
void cfg_free(struct ps_config *c);

/* Nonzero when connections accepted on local port `port` are tracked. */
int cfg_port_tracked(const struct ps_config *c, uint16_t port);

#endif
