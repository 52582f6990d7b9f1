/* shim/cfgfile.h — reading the files the configuration names, for the
 * library's constructor and for `promshim --check` alike (cfg_readfile_fn). */
#ifndef PROMSHIM_SHIM_CFGFILE_H
#define PROMSHIM_SHIM_CFGFILE_H

#include <stddef.h>

#define CFGFILE_MAX (16u << 20) /* larger configuration files are refused */

/* cfg_readfile_fn: the whole file in a malloc'd NUL-terminated buffer and
 * its st_mode. A file that is not regular yields an empty text and its mode,
 * so that cfg_load names the problem. On failure err holds the bare cause. */
int cfgfile_read(const char *path, char **text, size_t *len, unsigned *mode, char *err, size_t errlen);

#endif
