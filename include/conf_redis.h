/*
 * conf_redis - the store settings of the networked stores
 *
 *     store = { type = "redis";   url = "redis://[user:password@]host:port/db"; }   # or "unix:/path"
 *     store = { type = "cluster"; urls = ["redis://10.0.0.1:7000", ...]; read_from_replicas = false; }
 *     store = { type = "sharded"; stores = ( { type = "redis"; url = "..." },
 *                                            { type = "cluster"; urls = [...] } ); }
 *
 * Every URL is checked here, so that floodgated -t names a bad one with
 * its file and line; host names are resolved only when the daemon starts.
 */
#ifndef FG_CONF_REDIS_H
#define FG_CONF_REDIS_H

#include <libconfig.h>

#include "conf_errors.h"
#include "redis.h"

#define CONF_REDIS_SHARDS_MAX 64 /* stores of a sharded store */

/* conf_redis_parse - the spec of store group g whose type is type; 0 ok, -1 reported */
int conf_redis_parse(const config_setting_t *g, const char *type, redis_spec *out, conf_errors *errs);

#endif
