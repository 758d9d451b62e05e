/* SPDX-License-Identifier: MIT */
/*
 * The topology file. libyaml's document API builds the whole tree first so that every node keeps
 * its line and column; the tree is then checked key by key against the schema and against the
 * machine. The first problem found is reported as "FILE:LINE:COL: key: what is wrong; expected
 * what" and nothing starts: Hydra runs only from a topology that is valid as a whole.
 *
 * The file is operator input, not guest input, but it is still parsed as if it were hostile
 * (there is a fuzz target): every length is checked and every path through here frees the
 * document.
 */
#define HY_LOG_COMPONENT "topology"

#include "master/topology.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "shm/log.h"

#define TOPO_FILE_MAX (1u << 20) /* 32 devices of 64 queues is well under 100 KiB */
#define KEY_MAX	      128	 /* "devices[31].queues[63].numa" and an unknown key's name */

/* Defaults, as documented in the README's "Topology file" section. */
#define DEF_BLOCK_SIZE 512u
#define DEF_QUEUE_SIZE 256u
#define DEF_IDLE_US    1000u
#define MAX_IDLE_US    10000000u
#define MIN_QUEUE_SIZE 2u
#define MAX_QUEUE_SIZE                                                                             \
	32768u /* VIRTIO 1.1, 2.6: "Queue Size value is always a power of 2. The                   \
		* maximum Queue Size value is 32768." */

struct ctx {
	const char *file;
	const char *basedir;
	const struct hy_machine *m;
	struct hy_topology *t;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	const yaml_node_t *socket_dir_node; /* default socket paths are blamed on it */
	int status_line;		    /* where status_socket is set (or socket_dir) */
};

/* One key of a mapping: its key node (for "duplicate"/"unknown") and its value node. */
struct field {
	yaml_node_t *key;
	yaml_node_t *val;
};

/* The schema's key lists, each also used to say where a misplaced key belongs. */
static const char *const top_keys[] = {"hydra", "devices"};
enum { TOP_HYDRA, TOP_DEVICES, TOP_N };

static const char *const hydra_keys[] = {"socket_dir", "status_socket", "log_level"};
enum { HY_K_SOCKET_DIR, HY_K_STATUS_SOCKET, HY_K_LOG_LEVEL, HY_K_N };

static const char *const dev_keys[] = {
	"name",		"backend",    "block_size", "read_only", "writeback", "discard",
	"write_zeroes", "queue_size", "idle_us",    "serial",	 "socket",    "queues",
};
enum {
	DK_NAME,
	DK_BACKEND,
	DK_BLOCK_SIZE,
	DK_READ_ONLY,
	DK_WRITEBACK,
	DK_DISCARD,
	DK_WRITE_ZEROES,
	DK_QUEUE_SIZE,
	DK_IDLE_US,
	DK_SERIAL,
	DK_SOCKET,
	DK_QUEUES,
	DK_N
};

static const char *const be_keys[] = {"type", "path", "size", "pci", "namespace", "read_zeroes"};
enum { BE_TYPE, BE_PATH, BE_SIZE, BE_PCI, BE_NS, BE_ZEROES, BE_N };

static const char *const q_keys[] = {"cpu", "numa"};
enum { Q_CPU, Q_NUMA, Q_N };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *const *keys;
	size_t n;
	const char *where;
} schema_levels[] = {
	{top_keys, TOP_N, "the top level"},
	{hydra_keys, HY_K_N, "the 'hydra:' section"},
	{dev_keys, DK_N, "a device (an item of 'devices:')"},
	{be_keys, BE_N, "a device's 'backend:' mapping"},
	{q_keys, Q_N, "a queue (an item of 'queues:')"},
};

/*
 * A user's value, made safe and short enough to quote in a message: control characters become
 * '?', and long values are cut with "...". Returned by value so that show(s).s lives until the
 * end of the full expression it is used in (C11 6.2.4p8).
 */
struct shown {
	char s[52];
};

static struct shown show(const char *s)
{
	struct shown r;
	size_t i;

	for (i = 0; s[i] && i < sizeof(r.s) - 1; i++)
		r.s[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] && i >= 3)
		memcpy(r.s + i - 3, "...", 3);
	r.s[i] = '\0';
	return r;
}

static int fail(struct ctx *c, const yaml_node_t *at, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Report one problem at @at (or at the file when @at is NULL). Return: -EINVAL. */
static int fail(struct ctx *c, const yaml_node_t *at, const char *key, const char *fmt, ...)
{
	const char *file = c->file ? c->file : "<topology>";
	va_list ap;
	size_t n;
	int r;

	if (!c->err || !c->errlen)
		return -EINVAL;
	if (at)
		r = snprintf(c->err, c->errlen, "%s:%zu:%zu: %s: ", file, at->start_mark.line + 1,
			     at->start_mark.column + 1, key);
	else
		r = snprintf(c->err, c->errlen, "%s: %s: ", file, key);
	n = r > 0 ? (size_t)r : 0;
	if (n < c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *scalar_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/*
 * No value: an empty plain scalar ("key:" with nothing after it) or "~". The word "null" is not
 * taken as null: "type: null" names the null backend, and elsewhere "null" simply fails the
 * key's own check with a clearer message.
 */
static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = scalar_of(n);
	return !*s || !strcmp(s, "~");
}

static const char *kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return is_null(n) ? "no value" : "a single value";
	default:
		return "nothing";
	}
}

/* "parent.key" into a KEY_MAX buffer, cut (never overflowing) if a user's key is huge. */
static void child_key(char *out, const char *parent, const char *key)
{
	size_t o = 0;

	for (; parent && *parent && o < KEY_MAX - 1; parent++)
		out[o++] = *parent;
	if (o && o < KEY_MAX - 1)
		out[o++] = '.';
	for (; *key && o < KEY_MAX - 1; key++)
		out[o++] = *key;
	out[o] = '\0';
}

/* Optimal string alignment distance, for "did you mean" on short keys. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned d[24][24];
	size_t la = strlen(a), lb = strlen(b);

	if (la >= 24 || lb >= 24)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = tolower((unsigned char)a[i - 1]) !=
					tolower((unsigned char)b[j - 1]);
			unsigned v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

static bool looks_like(const char *typed, const char *known)
{
	size_t lt = strlen(typed), lk = strlen(known);
	unsigned limit = lk / 3 ? (unsigned)(lk / 3) : 1;

	if (edit_distance(typed, known) <= limit)
		return true;
	/* "socket_path" for "socket", "idle" for "idle_us" */
	return lt >= 3 && lk >= 3 && (!strncasecmp(typed, known, lt < lk ? lt : lk));
}

static int unknown_key(struct ctx *c, const yaml_node_t *keynode, const char *path,
		       const char *const *keys, size_t n)
{
	const char *typed = scalar_of(keynode);
	char key[KEY_MAX], list[256], hint[160] = "";
	size_t used = 0;

	for (size_t i = 0; i < n && used < sizeof(list); i++) {
		int r = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", keys[i]);
		used += r > 0 ? (size_t)r : 0;
	}
	if (strlen(typed) != keynode->data.scalar.length)
		snprintf(hint, sizeof(hint), " (it contains a NUL character)");
	/* A key from another level first ("size" belongs in backend:), then a typo. */
	for (size_t l = 0; l < ARRAY_SIZE(schema_levels) && !hint[0]; l++) {
		if (schema_levels[l].keys == keys)
			continue;
		for (size_t i = 0; i < schema_levels[l].n; i++)
			if (!strcmp(typed, schema_levels[l].keys[i]))
				snprintf(hint, sizeof(hint), " ('%s' belongs in %s)", typed,
					 schema_levels[l].where);
	}
	for (size_t i = 0; i < n && !hint[0]; i++)
		if (looks_like(typed, keys[i]))
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)", keys[i]);
	child_key(key, path, show(typed).s);
	return fail(c, keynode, key, "unknown key%s; expected one of %s", hint, list);
}

/*
 * Check that @map is a mapping whose keys are all in @keys, each at most once, and hand out the
 * value nodes. Runs in one pass over the pairs, so a huge mapping costs linear time.
 */
static int fields(struct ctx *c, yaml_node_t *map, const char *path, const char *expect,
		  const char *const *keys, size_t n, struct field *f)
{
	const char *label = path && *path ? path : "(top level)";

	memset(f, 0, n * sizeof(*f));
	if (map->type != YAML_MAPPING_NODE)
		return fail(c, map, label, "got %s; expected %s", kind(map), expect);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		char key[KEY_MAX];
		size_t i;

		if (!k || !v)
			return fail(c, map, label, "broken YAML document; expected %s", expect);
		if (k->type != YAML_SCALAR_NODE)
			return fail(c, k, label, "a key is %s; expected a plain key such as '%s:'",
				    kind(k), keys[0]);
		for (i = 0; i < n; i++)
			if (strlen(keys[i]) == k->data.scalar.length &&
			    !strcmp(scalar_of(k), keys[i]))
				break;
		if (i == n)
			return unknown_key(c, k, path, keys, n);
		child_key(key, path, keys[i]);
		if (f[i].key)
			return fail(
				c, k, key,
				"duplicate key (first given at line %zu, column %zu); expected each key at most once",
				f[i].key->start_mark.line + 1, f[i].key->start_mark.column + 1);
		f[i].key = k;
		f[i].val = v;
	}
	return 0;
}

static int missing(struct ctx *c, const yaml_node_t *map, const char *path, const char *key,
		   const char *expect)
{
	char full[KEY_MAX];

	child_key(full, path, key);
	return fail(c, map, full, "required key is missing; expected %s", expect);
}

/* A string value: a scalar that is not null and holds no NUL byte ("\0" in double quotes). */
static int get_str(struct ctx *c, const yaml_node_t *n, const char *key, const char *expect,
		   const char **out)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(c, n, key, "got %s; expected %s", kind(n), expect);
	if (strlen(scalar_of(n)) != n->data.scalar.length)
		return fail(c, n, key, "the value contains a NUL character; expected %s", expect);
	*out = scalar_of(n);
	return 0;
}

/* Decimal digits only: no sign, no spaces, no "0x", no "1_000", no trailing garbage. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int get_uint(struct ctx *c, const yaml_node_t *n, const char *key, uint64_t min,
		    uint64_t max, const char *expect, uint64_t *out)
{
	const char *s = NULL;
	uint64_t v = 0; /* gcc -O3 cannot see that every path that reads it has set it */
	int ret;

	ret = get_str(c, n, key, expect, &s);
	if (ret)
		return ret;
	ret = parse_u64(s, &v);
	if (ret == -EINVAL && s[0] == '-' && parse_u64(s + 1, &v) != -EINVAL)
		return fail(c, n, key, "'%s' is negative; expected %s", show(s).s, expect);
	if (ret == -EINVAL)
		return fail(c, n, key, "'%s' is not a whole number; expected %s", show(s).s,
			    expect);
	if (ret == -ERANGE || v < min || v > max)
		return fail(c, n, key, "%s is out of range; expected %s", show(s).s, expect);
	*out = v;
	return 0;
}

static int get_bool(struct ctx *c, const yaml_node_t *n, const char *key, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
									       "off"};
	const char *expect = "true or false";
	const char *s;
	int ret;

	ret = get_str(c, n, key, expect, &s);
	if (ret)
		return ret;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return fail(c, n, key, "'%s' is not a boolean; expected %s", show(s).s, expect);
}

int hy_parse_size(const char *s, uint64_t *out)
{
	/* Binary multiples only; "GB" is refused because it could mean 10^9 or 2^30. */
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {
		{"", 0},     {"B", 0},	{"K", 10}, {"k", 10},	{"KiB", 10}, {"M", 20}, {"m", 20},
		{"MiB", 20}, {"G", 30}, {"g", 30}, {"GiB", 30}, {"T", 40},   {"t", 40}, {"TiB", 40},
	};
	uint64_t v = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(s, units[i].suffix))
			continue;
		if (v > UINT64_MAX >> units[i].shift)
			return -EINVAL;
		*out = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

/* Why hy_parse_size() refused @s, in words. */
static const char *size_problem(const char *s)
{
	const char *p = s;

	if (*s == '-')
		return "is negative";
	if (*s < '0' || *s > '9')
		return "is not a size";
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.' || *p == ',')
		return "is not a whole number (write 1536MiB, not 1.5GiB)";
	if (isspace((unsigned char)*p))
		return "has a space before the unit";
	if (strchr("KkMmGgTt", *p) && *p && (p[1] == 'B' || p[1] == 'b') && !p[2])
		return "uses a decimal unit (1GB could mean 10^9 or 2^30 bytes)";
	if (!*p || !strcmp(p, "B") || (strchr("KkMmGgTt", *p) && !p[1]) ||
	    (strchr("KMGT", *p) && !strcmp(p + 1, "iB")))
		return "does not fit in 64 bits";
	return "has an unknown unit";
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * Resolve @in against @base (unless it is absolute or @base is empty) and tidy it lexically:
 * repeated '/' and "." components go. ".." stays, since only the kernel knows what it means
 * across symbolic links.
 * Return: the length, or -ENAMETOOLONG when the result does not fit @len.
 */
static int resolve(const char *base, const char *in, char *out, size_t len)
{
	const char *parts[2] = {in, NULL};
	size_t o = 0;

	if (in[0] != '/' && base && *base) {
		parts[0] = base;
		parts[1] = in;
	}
	if (!len)
		return -ENAMETOOLONG;
	if (parts[0][0] == '/')
		out[o++] = '/';
	for (size_t k = 0; k < 2 && parts[k]; k++) {
		const char *p = parts[k];

		while (*p) {
			const char *start;
			size_t n;

			while (*p == '/')
				p++;
			start = p;
			while (*p && *p != '/')
				p++;
			n = (size_t)(p - start);
			if (!n || (n == 1 && start[0] == '.'))
				continue;
			if (o && out[o - 1] != '/') {
				if (o + 1 >= len)
					return -ENAMETOOLONG;
				out[o++] = '/';
			}
			if (o + n >= len)
				return -ENAMETOOLONG;
			memcpy(out + o, start, n);
			o += n;
		}
	}
	if (!o) {
		if (len < 2)
			return -ENAMETOOLONG;
		out[o++] = '.';
	}
	out[o] = '\0';
	return (int)o;
}

/* A file path from the topology (socket, status_socket, backend path), resolved. */
static int get_path(struct ctx *c, const yaml_node_t *n, const char *key, const char *expect,
		    char *out, size_t len)
{
	const char *s = NULL; /* gcc -O3 cannot see that every path that reads it has set it */
	int ret;

	ret = get_str(c, n, key, expect, &s);
	if (ret)
		return ret;
	if (!*s)
		return fail(c, n, key, "the path is empty; expected %s", expect);
	if (s[strlen(s) - 1] == '/')
		return fail(c, n, key, "'%s' ends with '/'; expected %s", show(s).s, expect);
	if (resolve(c->basedir, s, out, len) < 0)
		return fail(c, n, key, "'%s' is too long once resolved; expected at most %zu bytes",
			    show(s).s, len - 1);
	return 0;
}

static int check_socket_len(struct ctx *c, const yaml_node_t *at, const char *key, const char *path,
			    bool defaulted, const char *how)
{
	size_t l = strlen(path);

	if (l < HY_SOCK_PATH_MAX)
		return 0;
	if (defaulted)
		return fail(
			c, at, key,
			"the default socket path %s ('%s') is %zu bytes long; expected at most %d bytes (sizeof(sun_path) - 1): use a shorter hydra.socket_dir or set %s",
			how, show(path).s, l, HY_SOCK_PATH_MAX - 1, key);
	return fail(
		c, at, key,
		"'%s' is %zu bytes long once resolved; expected at most %d bytes (sizeof(sun_path) - 1)",
		show(path).s, l, HY_SOCK_PATH_MAX - 1);
}

static int parse_hydra(struct ctx *c, yaml_node_t *node)
{
	struct hy_topology *t = c->t;
	struct field f[HY_K_N];
	const char *s;
	int ret, lvl;

	ret = fields(c, node, "hydra", "a mapping with socket_dir, status_socket and log_level",
		     hydra_keys, HY_K_N, f);
	if (ret)
		return ret;

	if (!f[HY_K_SOCKET_DIR].val)
		return missing(c, node, "hydra", "socket_dir",
			       "the folder for the vhost-user sockets, such as /run/hydra");
	ret = get_str(c, f[HY_K_SOCKET_DIR].val, "hydra.socket_dir",
		      "a folder path such as /run/hydra", &s);
	if (ret)
		return ret;
	if (!*s)
		return fail(c, f[HY_K_SOCKET_DIR].val, "hydra.socket_dir",
			    "the path is empty; expected a folder path such as /run/hydra");
	if (resolve(c->basedir, s, t->socket_dir, sizeof(t->socket_dir)) < 0)
		return fail(c, f[HY_K_SOCKET_DIR].val, "hydra.socket_dir",
			    "'%s' is too long once resolved; expected at most %zu bytes", show(s).s,
			    sizeof(t->socket_dir) - 1);
	c->socket_dir_node = f[HY_K_SOCKET_DIR].val;

	t->log_level = HY_LOG_INFO;
	if (f[HY_K_LOG_LEVEL].val) {
		const char *expect = "error, warn, info or debug";

		ret = get_str(c, f[HY_K_LOG_LEVEL].val, "hydra.log_level", expect, &s);
		if (ret)
			return ret;
		lvl = hy_log_level_parse(s);
		if (lvl < 0)
			return fail(c, f[HY_K_LOG_LEVEL].val, "hydra.log_level",
				    "'%s' is not a log level; expected %s", show(s).s, expect);
		t->log_level = lvl;
	}

	if (f[HY_K_STATUS_SOCKET].val) {
		char path[PATH_MAX];

		ret = get_path(c, f[HY_K_STATUS_SOCKET].val, "hydra.status_socket",
			       "a socket path such as /run/hydra/status.sock", path, sizeof(path));
		if (ret)
			return ret;
		ret = check_socket_len(c, f[HY_K_STATUS_SOCKET].val, "hydra.status_socket", path,
				       false, NULL);
		if (ret)
			return ret;
		memcpy(t->status_socket, path, strlen(path) + 1);
		c->status_line = (int)f[HY_K_STATUS_SOCKET].val->start_mark.line + 1;
	} else {
		char path[PATH_MAX];

		if (resolve(t->socket_dir, "status.sock", path, sizeof(path)) < 0)
			path[0] = '\0';
		ret = check_socket_len(c, f[HY_K_SOCKET_DIR].val, "hydra.status_socket",
				       path[0] ? path : t->socket_dir, true,
				       "<socket_dir>/status.sock");
		if (ret)
			return ret;
		memcpy(t->status_socket, path, strlen(path) + 1);
		c->status_line = (int)f[HY_K_SOCKET_DIR].val->start_mark.line + 1;
	}
	return 0;
}

/* A PCI address as sysfs names it: DDDD:BB:DD.F, or BB:DD.F in domain 0. Lower-case hex. */
static bool pci_addr_valid(const char *s, char *out, size_t outlen)
{
	unsigned dom = 0, bus, dev, fn;
	int n = 0;

	if (sscanf(s, "%4x:%2x:%2x.%1u%n", &dom, &bus, &dev, &fn, &n) == 4 && !s[n]) {
		/* full form */
	} else if (dom = 0, n = 0, sscanf(s, "%2x:%2x.%1u%n", &bus, &dev, &fn, &n) == 3 && !s[n]) {
		/* domain 0 */
	} else {
		return false;
	}
	if (dev > 31 || fn > 7 || strchr(s, ' ') || strchr(s, '+') || strchr(s, '-'))
		return false;
	snprintf(out, outlen, "%04x:%02x:%02x.%u", dom, bus, dev, fn);
	return true;
}

/* nvme: pci (required) and namespace (default 1); neither belongs to another backend. */
static int parse_nvme(struct ctx *c, yaml_node_t *node, const char *path, struct field *f,
		      struct hy_topo_device *d, unsigned idx)
{
	struct hy_topology *t = c->t;
	char key[KEY_MAX];
	const char *s;
	uint64_t v;
	int ret;

	if (d->type != HY_BE_NVME) {
		if (f[BE_PCI].val)
			return fail(
				c, f[BE_PCI].key, path,
				"pci: belongs to backend type nvme; expected type: nvme or no pci:");
		if (f[BE_NS].val)
			return fail(
				c, f[BE_NS].key, path,
				"namespace: belongs to backend type nvme; expected type: nvme or no namespace:");
		return 0;
	}
	child_key(key, path, "pci");
	if (!f[BE_PCI].val)
		return missing(
			c, node, path, "pci",
			"the NVMe controller's PCI address such as \"0000:00:04.0\" (hydra-nvme-setup status lists them)");
	ret = get_str(c, f[BE_PCI].val, key, "a PCI address such as \"0000:00:04.0\"", &s);
	if (ret)
		return ret;
	if (!pci_addr_valid(s, d->pci, sizeof(d->pci)))
		return fail(
			c, f[BE_PCI].val, key,
			"'%s' is not a PCI address; expected DDDD:BB:DD.F such as \"0000:00:04.0\"",
			show(s).s);
	for (unsigned j = 0; j < idx; j++)
		if (t->devices[j].type == HY_BE_NVME && !strcmp(t->devices[j].pci, d->pci))
			return fail(
				c, f[BE_PCI].val, key,
				"controller %s is already the backend of device '%s' (line %d); expected a controller of its own for every device (namespaces of one controller cannot yet be shared between devices)",
				d->pci, t->devices[j].name, t->devices[j].line);
	d->nsid = 1;
	if (f[BE_NS].val) {
		child_key(key, path, "namespace");
		ret = get_uint(c, f[BE_NS].val, key, 1, 0xfffffffeull,
			       "a namespace ID from 1 to 4294967294 (default 1)", &v);
		if (ret)
			return ret;
		d->nsid = (uint32_t)v;
	}
	return 0;
}

static int parse_backend(struct ctx *c, yaml_node_t *node, const char *dpath,
			 struct hy_topo_device *d, unsigned idx)
{
	static const char *const names[] = {"uring", "ram", "null", "nvme"};
	struct hy_topology *t = c->t;
	struct field f[BE_N];
	char path[KEY_MAX], key[KEY_MAX];
	const char *s;
	size_t i;
	int ret;

	child_key(path, dpath, "backend");
	ret = fields(
		c, node, path,
		"a mapping such as { type: uring, path: disk.img, size: 1GiB } (type uring, ram, null or nvme)",
		be_keys, BE_N, f);
	if (ret)
		return ret;

	child_key(key, path, "type");
	if (!f[BE_TYPE].val)
		return missing(c, node, path, "type", "uring, ram, null or nvme");
	ret = get_str(c, f[BE_TYPE].val, key, "uring, ram, null or nvme", &s);
	if (ret)
		return ret;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i]))
			break;
	if (i == ARRAY_SIZE(names))
		return fail(
			c, f[BE_TYPE].val, key,
			"backend type '%s' is not supported by this build (expected uring, ram, null or nvme)",
			show(s).s);
	d->type = (enum hy_backend_type)i;

	child_key(key, path, "path");
	if (d->type == HY_BE_URING) {
		if (!f[BE_PATH].val)
			return missing(c, node, path, "path",
				       "the file or block device that backs this uring device");
		ret = get_path(c, f[BE_PATH].val, key, "a file or block device path", d->path,
			       sizeof(d->path));
		if (ret)
			return ret;
		for (unsigned j = 0; j < idx; j++)
			if (t->devices[j].type == HY_BE_URING &&
			    !strcmp(t->devices[j].path, d->path))
				return fail(
					c, f[BE_PATH].val, key,
					"'%s' is already the backend of device '%s' (line %d); expected a file or block device of its own for every device",
					show(d->path).s, t->devices[j].name, t->devices[j].line);
	} else if (f[BE_PATH].val) {
		return fail(
			c, f[BE_PATH].key, key,
			d->type == HY_BE_NVME
				? "backend type 'nvme' has no path; expected pci: (the controller's PCI address) and namespace:"
				: "backend type '%s' has no path; expected type and size (and read_zeroes for null)",
			s);
	}
	ret = parse_nvme(c, node, path, f, d, idx);
	if (ret)
		return ret;
	/* null: whether reads fill the guest's buffer with zeroes (the default) or leave it as it
	 * is, as SPDK's null bdev and QEMU's null-co without read-zeroes do. */
	d->read_zeroes = true;
	if (f[BE_ZEROES].val) {
		child_key(key, path, "read_zeroes");
		if (d->type != HY_BE_NULL)
			return fail(
				c, f[BE_ZEROES].key, key,
				"read_zeroes: belongs to backend type null; expected type: null or no read_zeroes:");
		ret = get_bool(c, f[BE_ZEROES].val, key, &d->read_zeroes);
		if (ret)
			return ret;
	}

	child_key(key, path, "size");
	if (!f[BE_SIZE].val) {
		if (d->type != HY_BE_URING && d->type != HY_BE_NVME)
			return missing(c, node, path, "size",
				       "the device size, such as 1GiB (required for ram and null)");
		d->size = 0;
		return 0;
	}
	{
		const char *expect =
			d->type == HY_BE_URING || d->type == HY_BE_NVME
				? "a positive size such as 1GiB or 4096 (K, M, G, T are binary; leave size out to use the whole file, device or namespace)"
				: "a positive size such as 1GiB or 4096 (K, M, G, T are binary)";
		uint64_t bs = d->block_size;

		ret = get_str(c, f[BE_SIZE].val, key, expect, &s);
		if (ret)
			return ret;
		if (hy_parse_size(s, &d->size))
			return fail(c, f[BE_SIZE].val, key, "'%s' %s; expected %s", show(s).s,
				    size_problem(s), expect);
		if (!d->size)
			return fail(c, f[BE_SIZE].val, key, "0 bytes; expected %s", expect);
		if (d->size % bs) {
			uint64_t lo = d->size / bs * bs;

			if (lo)
				return fail(
					c, f[BE_SIZE].val, key,
					"%llu bytes is not a multiple of block_size %llu; expected a multiple such as %llu or %llu",
					(unsigned long long)d->size, (unsigned long long)bs,
					(unsigned long long)lo, (unsigned long long)(lo + bs));
			return fail(
				c, f[BE_SIZE].val, key,
				"%llu bytes is smaller than block_size %llu; expected a multiple of %llu",
				(unsigned long long)d->size, (unsigned long long)bs,
				(unsigned long long)bs);
		}
	}
	return 0;
}

static int parse_queues(struct ctx *c, yaml_node_t *node, const char *dpath,
			struct hy_topo_device *d)
{
	const struct hy_machine *m = c->m;
	char path[KEY_MAX], cpus[256];
	size_t n;

	child_key(path, dpath, "queues");
	if (node->type != YAML_SEQUENCE_NODE)
		return fail(c, node, path,
			    "got %s; expected a list of 1 to %d queues such as '- { cpu: 0 }'",
			    kind(node), HY_MAX_QUEUES);
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n)
		return fail(c, node, path,
			    "the list is empty; expected 1 to %d queues such as '- { cpu: 0 }'",
			    HY_MAX_QUEUES);
	if (n > HY_MAX_QUEUES) {
		yaml_node_t *extra = yaml_document_get_node(
			c->doc, node->data.sequence.items.start[HY_MAX_QUEUES]);

		return fail(c, extra ? extra : node, path, "%zu queues; expected at most %d", n,
			    HY_MAX_QUEUES);
	}
	hy_machine_cpulist(m, cpus, sizeof(cpus));

	for (size_t i = 0; i < n; i++) {
		yaml_node_t *q = yaml_document_get_node(c->doc, node->data.sequence.items.start[i]);
		struct hy_topo_queue *tq = &d->queues[i];
		char qpath[KEY_MAX + 24], key[KEY_MAX];
		struct field f[Q_N];
		uint64_t cpu, numa;
		int ret;

		if (!q)
			return fail(c, node, path,
				    "broken YAML document; expected a list of queues");
		snprintf(qpath, sizeof(qpath), "%s[%zu]", path, i);
		ret = fields(c, q, qpath, "a mapping such as { cpu: 0 } or { cpu: 0, numa: 0 }",
			     q_keys, Q_N, f);
		if (ret)
			return ret;
		if (!f[Q_CPU].val)
			return missing(c, q, qpath, "cpu", "the cpu this queue's worker runs on");
		child_key(key, qpath, "cpu");
		ret = get_uint(c, f[Q_CPU].val, key, 0, UINT32_MAX, "a cpu number", &cpu);
		if (ret)
			return ret;
		if (cpu >= m->ncpus || cpu >= HY_MAX_CPUS || !m->present[cpu])
			return fail(
				c, f[Q_CPU].val, key,
				"cpu %llu does not exist on this machine (cpus %s); expected one of %s",
				(unsigned long long)cpu, cpus, cpus);
		tq->cpu = (int)cpu;
		tq->numa = m->node[cpu];
		if (f[Q_NUMA].val) {
			child_key(key, qpath, "numa");
			ret = get_uint(c, f[Q_NUMA].val, key, 0, INT_MAX, "a numa node number",
				       &numa);
			if (ret)
				return ret;
			if (numa != (uint64_t)m->node[cpu])
				return fail(
					c, f[Q_NUMA].val, key,
					"numa %llu does not match cpu %llu, which is on numa node %d; expected %d (or leave numa out)",
					(unsigned long long)numa, (unsigned long long)cpu,
					m->node[cpu], m->node[cpu]);
		}
	}
	d->nqueues = (unsigned)n;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= HY_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

static int check_socket_unique(struct ctx *c, const yaml_node_t *at, const char *key, unsigned idx)
{
	const struct hy_topology *t = c->t;
	const char *sock = t->devices[idx].socket;

	if (!strcmp(sock, t->status_socket))
		return fail(
			c, at, key,
			"'%s' is already hydra.status_socket (line %d); expected a different path for every device and for the status socket",
			show(sock).s, c->status_line);
	for (unsigned j = 0; j < idx; j++)
		if (!strcmp(sock, t->devices[j].socket))
			return fail(
				c, at, key,
				"'%s' is already the socket of device '%s' (line %d); expected a different path for every device and for the status socket",
				show(sock).s, t->devices[j].name, t->devices[j].line);
	return 0;
}

static int parse_device(struct ctx *c, yaml_node_t *node, unsigned idx)
{
	struct hy_topology *t = c->t;
	struct hy_topo_device *d = &t->devices[idx];
	char path[KEY_MAX], key[KEY_MAX];
	struct field f[DK_N];
	const char *s;
	uint64_t v;
	int ret;

	snprintf(path, sizeof(path), "devices[%u]", idx);
	ret = fields(c, node, path,
		     "a mapping such as 'name: vda' with backend: and queues:", dev_keys, DK_N, f);
	if (ret)
		return ret;
	d->line = (int)node->start_mark.line + 1;

	/* name */
	child_key(key, path, "name");
	if (!f[DK_NAME].val)
		return missing(c, node, path, "name", "a device name such as vda");
	{
		const char *expect =
			"1 to 31 characters from A-Z, a-z, 0-9, '_' and '-' (it names the socket and the log lines)";

		ret = get_str(c, f[DK_NAME].val, key, expect, &s);
		if (ret)
			return ret;
		if (!valid_name(s))
			return fail(c, f[DK_NAME].val, key,
				    "'%s' is not a valid device name; expected %s", show(s).s,
				    expect);
	}
	for (unsigned j = 0; j < idx; j++)
		if (!strcmp(s, t->devices[j].name))
			return fail(
				c, f[DK_NAME].val, key,
				"'%s' is already the name of the device at line %d; expected a unique name",
				s, t->devices[j].line);
	memcpy(d->name, s, strlen(s) + 1);

	/* scalars with defaults */
	d->block_size = DEF_BLOCK_SIZE;
	d->read_only = false;
	d->writeback = true;
	d->discard = true;
	d->write_zeroes = true;
	d->queue_size = DEF_QUEUE_SIZE;
	d->idle_us = DEF_IDLE_US;

	if (f[DK_BLOCK_SIZE].val) {
		const char *expect = "512, 1024, 2048 or 4096 (default 512)";

		child_key(key, path, "block_size");
		ret = get_uint(c, f[DK_BLOCK_SIZE].val, key, 512, 4096, expect, &v);
		if (ret)
			return ret;
		if (!is_pow2(v))
			return fail(c, f[DK_BLOCK_SIZE].val, key,
				    "%llu is not a power of two; expected %s",
				    (unsigned long long)v, expect);
		d->block_size = (uint32_t)v;
		d->block_size_set = true;
	}
	{
		static const struct {
			int k;
			size_t off;
		} bools[] = {
			{DK_READ_ONLY, offsetof(struct hy_topo_device, read_only)},
			{DK_WRITEBACK, offsetof(struct hy_topo_device, writeback)},
			{DK_DISCARD, offsetof(struct hy_topo_device, discard)},
			{DK_WRITE_ZEROES, offsetof(struct hy_topo_device, write_zeroes)},
		};

		for (size_t i = 0; i < ARRAY_SIZE(bools); i++) {
			if (!f[bools[i].k].val)
				continue;
			child_key(key, path, dev_keys[bools[i].k]);
			ret = get_bool(c, f[bools[i].k].val, key,
				       (bool *)((char *)d + bools[i].off));
			if (ret)
				return ret;
		}
	}
	if (f[DK_QUEUE_SIZE].val) {
		const char *expect = "a power of two from 2 to 32768 (default 256)";

		child_key(key, path, "queue_size");
		ret = get_uint(c, f[DK_QUEUE_SIZE].val, key, MIN_QUEUE_SIZE, MAX_QUEUE_SIZE, expect,
			       &v);
		if (ret)
			return ret;
		if (!is_pow2(v))
			return fail(c, f[DK_QUEUE_SIZE].val, key,
				    "%llu is not a power of two; expected %s",
				    (unsigned long long)v, expect);
		d->queue_size = (uint32_t)v;
	}
	if (f[DK_IDLE_US].val) {
		child_key(key, path, "idle_us");
		ret = get_uint(c, f[DK_IDLE_US].val, key, 0, MAX_IDLE_US,
			       "microseconds from 0 to 10000000 (default 1000)", &v);
		if (ret)
			return ret;
		d->idle_us = (uint32_t)v;
	}
	if (f[DK_SERIAL].val) {
		const char *expect = "at most 20 printable ASCII characters (default hydra-<name>)";
		size_t n;

		child_key(key, path, "serial");
		/* An explicitly empty serial ("") is allowed: the guest then sees no ID. */
		if (f[DK_SERIAL].val->type == YAML_SCALAR_NODE &&
		    f[DK_SERIAL].val->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
		    !f[DK_SERIAL].val->data.scalar.length) {
			s = "";
		} else {
			ret = get_str(c, f[DK_SERIAL].val, key, expect, &s);
			if (ret)
				return ret;
		}
		n = strlen(s);
		if (n >= HY_SERIAL_MAX)
			return fail(c, f[DK_SERIAL].val, key, "'%s' is %zu bytes long; expected %s",
				    show(s).s, n, expect);
		for (size_t i = 0; i < n; i++)
			if (s[i] < 0x20 || s[i] > 0x7e)
				return fail(c, f[DK_SERIAL].val, key,
					    "byte %zu is not printable ASCII; expected %s", i + 1,
					    expect);
		memcpy(d->serial, s, n + 1);
	} else {
		/* VIRTIO 1.1, 5.2.6: the ID string is 20 bytes; a long name is cut to fit. */
		size_t n = strnlen(d->name, sizeof(d->serial) - 7);

		memcpy(d->serial, "hydra-", 6);
		memcpy(d->serial + 6, d->name, n);
		d->serial[6 + n] = '\0';
	}

	/* backend (after block_size: its size must be a multiple of it) */
	if (!f[DK_BACKEND].val)
		return missing(c, node, path, "backend",
			       "a mapping such as { type: uring, path: disk.img, size: 1GiB }");
	ret = parse_backend(c, f[DK_BACKEND].val, path, d, idx);
	if (ret)
		return ret;

	/* socket */
	child_key(key, path, "socket");
	if (f[DK_SOCKET].val) {
		char sock[PATH_MAX];

		ret = get_path(c, f[DK_SOCKET].val, key,
			       "a socket path such as /run/hydra/vda.sock", sock, sizeof(sock));
		if (ret)
			return ret;
		ret = check_socket_len(c, f[DK_SOCKET].val, key, sock, false, NULL);
		if (ret)
			return ret;
		memcpy(d->socket, sock, strlen(sock) + 1);
		ret = check_socket_unique(c, f[DK_SOCKET].val, key, idx);
	} else {
		char file[HY_NAME_MAX + 8], sock[PATH_MAX];

		snprintf(file, sizeof(file), "%s.sock", d->name);
		if (resolve(t->socket_dir, file, sock, sizeof(sock)) < 0)
			snprintf(sock, sizeof(sock), "%s", t->socket_dir);
		ret = check_socket_len(c, f[DK_NAME].val, key, sock, true,
				       "<socket_dir>/<name>.sock");
		if (ret)
			return ret;
		memcpy(d->socket, sock, strlen(sock) + 1);
		ret = check_socket_unique(c, f[DK_NAME].val, key, idx);
	}
	if (ret)
		return ret;

	/* queues */
	if (!f[DK_QUEUES].val)
		return missing(c, node, path, "queues",
			       "a list of 1 to 64 queues such as '- { cpu: 0 }'");
	return parse_queues(c, f[DK_QUEUES].val, path, d);
}

static int parse_devices(struct ctx *c, yaml_node_t *node)
{
	size_t n;
	int ret;

	if (node->type != YAML_SEQUENCE_NODE)
		return fail(
			c, node, "devices",
			"got %s; expected a list of 1 to %d devices, each starting with '- name: '",
			kind(node), HY_MAX_DEVICES);
	n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	if (!n)
		return fail(c, node, "devices", "no devices are listed; expected 1 to %d devices",
			    HY_MAX_DEVICES);
	if (n > HY_MAX_DEVICES) {
		yaml_node_t *extra = yaml_document_get_node(
			c->doc, node->data.sequence.items.start[HY_MAX_DEVICES]);

		return fail(c, extra ? extra : node, "devices", "%zu devices; expected at most %d",
			    n, HY_MAX_DEVICES);
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *dev =
			yaml_document_get_node(c->doc, node->data.sequence.items.start[i]);

		if (!dev)
			return fail(c, node, "devices", "broken YAML document; expected a list");
		ret = parse_device(c, dev, (unsigned)i);
		if (ret)
			return ret;
		c->t->ndevices = (unsigned)i + 1;
	}
	return 0;
}

static int parse_root(struct ctx *c, yaml_node_t *root)
{
	struct field f[TOP_N];
	int ret;

	ret = fields(c, root, "", "a mapping with the keys hydra and devices", top_keys, TOP_N, f);
	if (ret)
		return ret;
	if (!f[TOP_HYDRA].val)
		return missing(c, root, "", "hydra", "a 'hydra:' section with at least socket_dir");
	if (!f[TOP_DEVICES].val)
		return missing(c, root, "", "devices", "a list of 1 to 32 devices");
	/* hydra first, wherever it is in the file: device sockets default to socket_dir. */
	ret = parse_hydra(c, f[TOP_HYDRA].val);
	if (ret)
		return ret;
	return parse_devices(c, f[TOP_DEVICES].val);
}

/* libyaml's reader reports a byte offset only; turn it into a line and a column. */
static void offset_to_mark(const char *buf, size_t len, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int syntax_error(struct ctx *c, const yaml_parser_t *p, const char *buf, size_t len)
{
	const char *file = c->file ? c->file : "<topology>";
	const char *problem = p->problem ? p->problem : "unknown error";
	const char *expect =
		"valid YAML (check the indentation, the ':' after each key and the quoting)";
	size_t line, col, at = p->problem_mark.index;

	if (p->error == YAML_MEMORY_ERROR) {
		if (c->err && c->errlen)
			snprintf(c->err, c->errlen, "%s: yaml: out of memory", file);
		return -ENOMEM;
	}
	if (!c->err || !c->errlen)
		return -EINVAL;
	if (p->error == YAML_READER_ERROR) {
		offset_to_mark(buf, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			snprintf(c->err, c->errlen,
				 "%s:%zu:%zu: yaml: %s (0x%x); expected UTF-8 text", file, line,
				 col, problem, (unsigned)p->problem_value);
		else
			snprintf(c->err, c->errlen, "%s:%zu:%zu: yaml: %s; expected UTF-8 text",
				 file, line, col, problem);
		return -EINVAL;
	}
	/* The most common YAML mistake of all gets a message of its own. */
	if (at < len && buf[at] == '\t')
		expect = "spaces, not tabs, for indentation (YAML does not allow tabs there)";
	if (p->context)
		snprintf(c->err, c->errlen,
			 "%s:%zu:%zu: yaml: %s (%s at line %zu, column %zu); expected %s", file,
			 p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
			 p->context_mark.line + 1, p->context_mark.column + 1, expect);
	else
		snprintf(c->err, c->errlen, "%s:%zu:%zu: yaml: %s; expected %s", file,
			 p->problem_mark.line + 1, p->problem_mark.column + 1, problem, expect);
	return -EINVAL;
}

int hy_topology_parse(const char *buf, size_t len, const char *filename, const char *basedir,
		      const struct hy_machine *machine, struct hy_topology *t, char *err,
		      size_t errlen)
{
	struct ctx c = {
		.file = filename,
		.basedir = basedir,
		.m = machine,
		.t = t,
		.err = err,
		.errlen = errlen,
	};
	yaml_parser_t parser;
	yaml_document_t doc, next;
	yaml_node_t *root;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!t || !machine || (!buf && len)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: no topology or no machine description",
				 filename ? filename : "<topology>");
		return -EINVAL;
	}
	memset(t, 0, sizeof(*t));
	if (!yaml_parser_initialize(&parser)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: yaml: out of memory",
				 filename ? filename : "<topology>");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), len);

	/* On failure yaml_parser_load() has already freed what it built of @doc. */
	if (!yaml_parser_load(&parser, &doc)) {
		ret = syntax_error(&c, &parser, buf, len);
		goto out_parser;
	}
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		ret = fail(&c, NULL, "(document)",
			   "the file is empty; expected a mapping with the keys hydra and devices");
		goto out_doc;
	}

	/* A second document ("---") would be silently ignored otherwise. */
	if (!yaml_parser_load(&parser, &next)) {
		ret = syntax_error(&c, &parser, buf, len);
		goto out_doc;
	}
	if (yaml_document_get_root_node(&next)) {
		const yaml_mark_t mk = next.start_mark;

		yaml_document_delete(&next);
		if (err && errlen)
			snprintf(
				err, errlen,
				"%s:%zu:%zu: (document): a second YAML document starts here; expected exactly one document (remove the '---')",
				filename ? filename : "<topology>", mk.line + 1, mk.column + 1);
		ret = -EINVAL;
		goto out_doc;
	}
	yaml_document_delete(&next);

	ret = parse_root(&c, root);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return ret;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int hy_topology_load(const char *path, const struct hy_machine *machine, struct hy_topology *t,
		     char *err, size_t errlen)
{
	char real[PATH_MAX], *dir, *buf;
	size_t len = 0;
	struct stat st;
	int fd, ret;

	if (!realpath(path, real)) {
		ret = -errno;
		set_err(err, errlen, "%s: cannot open the topology file: %s", path,
			strerror(errno));
		return ret;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: cannot open the topology file: %s", path,
			strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		set_err(err, errlen, "%s: fstat() failed: %s", path, strerror(errno));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		set_err(err, errlen, "%s: not a regular file; expected a YAML topology file", path);
		goto err_close;
	}
	buf = malloc(TOPO_FILE_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		set_err(err, errlen, "%s: out of memory", path);
		goto err_close;
	}
	/* Read to EOF rather than trusting st_size: the file may be rewritten under us. */
	for (;;) {
		ssize_t r = read(fd, buf + len, TOPO_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			set_err(err, errlen, "%s: read() failed: %s", path, strerror(errno));
			goto err_free;
		}
		if (!r)
			break;
		len += (size_t)r;
		if (len > TOPO_FILE_MAX) {
			ret = -EFBIG;
			set_err(err, errlen,
				"%s: the file is larger than %u bytes; expected a topology file",
				path, TOPO_FILE_MAX);
			goto err_free;
		}
	}
	close(fd);

	dir = strrchr(real, '/');
	if (dir == real)
		dir[1] = '\0';
	else if (dir)
		*dir = '\0';
	ret = hy_topology_parse(buf, len, path, real, machine, t, err, errlen);
	free(buf);
	return ret;

err_free:
	free(buf);
err_close:
	close(fd);
	return ret;
}

const char *hy_backend_name(enum hy_backend_type type)
{
	switch (type) {
	case HY_BE_URING:
		return "uring";
	case HY_BE_RAM:
		return "ram";
	case HY_BE_NULL:
		return "null";
	case HY_BE_NVME:
		return "nvme";
	}
	return "unknown";
}

static void human_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	unsigned u = 0;

	if (v < 1024) {
		snprintf(buf, len, "%llu bytes", (unsigned long long)v);
		return;
	}
	while (u + 1 < ARRAY_SIZE(units) && v >> (10 * (u + 2)))
		u++;
	if (v & ((1ull << (10 * (u + 1))) - 1))
		snprintf(buf, len, "%.2f %s", (double)v / (double)(1ull << (10 * (u + 1))),
			 units[u]);
	else
		snprintf(buf, len, "%llu %s", (unsigned long long)(v >> (10 * (u + 1))), units[u]);
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

void hy_topology_print(const struct hy_topology *t, FILE *out)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};

	fprintf(out, "socket_dir:    %s\n", t->socket_dir);
	fprintf(out, "status_socket: %s\n", t->status_socket);
	fprintf(out, "log_level:     %s\n",
		t->log_level >= 0 && t->log_level < (int)ARRAY_SIZE(levels) ? levels[t->log_level]
									    : "?");
	fprintf(out, "devices:       %u\n", t->ndevices);
	for (unsigned i = 0; i < t->ndevices && i < HY_MAX_DEVICES; i++) {
		const struct hy_topo_device *d = &t->devices[i];
		char human[32];

		fprintf(out, "\ndevice %s (line %d)\n", d->name, d->line);
		fprintf(out, "  socket:       %s\n", d->socket);
		fprintf(out, "  backend:      %s", hy_backend_name(d->type));
		if (d->type == HY_BE_URING)
			fprintf(out, " %s", d->path);
		if (d->type == HY_BE_NVME)
			fprintf(out, " %s namespace %u", d->pci, d->nsid);
		if (d->size) {
			human_size(d->size, human, sizeof(human));
			fprintf(out, ", %llu bytes (%s)\n", (unsigned long long)d->size, human);
		} else {
			fprintf(out, d->type == HY_BE_NVME
					     ? ", size of the namespace\n"
					     : ", size of the existing file or device\n");
		}
		if (d->type == HY_BE_NVME && !d->block_size_set)
			fprintf(out, "  block_size:   the namespace's\n");
		else
			fprintf(out, "  block_size:   %u\n", d->block_size);
		fprintf(out, "  read_only:    %s\n", yes_no(d->read_only));
		fprintf(out, "  writeback:    %s\n", yes_no(d->writeback));
		fprintf(out, "  discard:      %s\n", yes_no(d->discard));
		fprintf(out, "  write_zeroes: %s\n", yes_no(d->write_zeroes));
		fprintf(out, "  queue_size:   %u\n", d->queue_size);
		fprintf(out, "  idle_us:      %u\n", d->idle_us);
		fprintf(out, "  serial:       \"%s\"\n", d->serial);
		fprintf(out, "  queues:       %u\n", d->nqueues);
		for (unsigned q = 0; q < d->nqueues && q < HY_MAX_QUEUES; q++)
			fprintf(out, "    queue %u: cpu %d, numa node %d\n", q, d->queues[q].cpu,
				d->queues[q].numa);
	}
}
