/* SPDX-License-Identifier: MIT */
#include "shm/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static char log_prefix[96] = "hydra";
static enum hy_log_level log_level = HY_LOG_INFO;

void hy_log_init(const char *role, const char *id, enum hy_log_level level)
{
	if (id)
		snprintf(log_prefix, sizeof(log_prefix), "%s[%s]/%d", role, id, (int)getpid());
	else
		snprintf(log_prefix, sizeof(log_prefix), "%s/%d", role, (int)getpid());
	log_level = level;
}

void hy_log_set_level(enum hy_log_level level)
{
	log_level = level;
}

enum hy_log_level hy_log_get_level(void)
{
	return log_level;
}

int hy_log_level_parse(const char *s)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

void hy_log_write(enum hy_log_level level, int err, const char *component, const char *fmt, ...)
{
	static const char *const tags[] = {"error", "warn", "info", "debug"};
	char line[1024];
	int n, saved = errno;
	va_list ap;

	n = snprintf(line, sizeof(line), "%s %s %s: ", log_prefix, tags[level], component);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < sizeof(line)) {
		if (err < 0)
			err = -err;
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s (%d)", strerror(err), err);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write(2) per line: lines from several processes on one stderr stay whole. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to report it. */
	}
	errno = saved;
}

uint64_t hy_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int hy_ratelimit_ok(struct hy_ratelimit *rl, uint64_t *squashed)
{
	uint64_t now = hy_now_ns();

	if (rl->last_ns && now - rl->last_ns < 1000000000ull) {
		rl->squashed++;
		return 0;
	}
	rl->last_ns = now;
	*squashed = rl->squashed;
	rl->squashed = 0;
	return 1;
}
