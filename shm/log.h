/* SPDX-License-Identifier: MIT */
/*
 * One logger for every Hydra process.
 *
 * Lines look like "worker[vda.1]/4711 vring: descriptor 3 points outside guest memory" followed,
 * when an errno is given, by ": Bad address (14)". Everything goes to stderr with a single
 * write(2) per line so that lines from the master and its workers never interleave mid-line.
 */
#ifndef HY_SHM_LOG_H
#define HY_SHM_LOG_H

#include <stdint.h>

enum hy_log_level {
	HY_LOG_ERR = 0,
	HY_LOG_WARN = 1,
	HY_LOG_INFO = 2,
	HY_LOG_DEBUG = 3,
};

/**
 * hy_log_init() - name this process in every following log line.
 * @role: "master", "worker", "hydractl", ...
 * @id: instance name ("vda.1") or NULL
 * @level: lines above this level are dropped
 *
 * Call once at process start and again in a forked child.
 */
void hy_log_init(const char *role, const char *id, enum hy_log_level level);

/** hy_log_set_level() - change the threshold at run time. */
void hy_log_set_level(enum hy_log_level level);

/** hy_log_get_level() - the current threshold. */
enum hy_log_level hy_log_get_level(void);

/**
 * hy_log_level_parse() - "error", "warn", "info" or "debug" to a level.
 * Return: the level, or -EINVAL.
 */
int hy_log_level_parse(const char *s);

/**
 * hy_log_write() - format and emit one line; use the hy_log() macro instead.
 * @level: severity
 * @err: errno value (positive or negative) to append as ": strerror (N)", or 0
 * @component: the source file's HY_LOG_COMPONENT
 */
void hy_log_write(enum hy_log_level level, int err, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#ifndef HY_LOG_COMPONENT
#define HY_LOG_COMPONENT "hydra"
#endif

/*
 * hy_log(LEVEL, err, fmt, ...): LEVEL is ERR, WARN, INFO or DEBUG. DEBUG compiles out of release
 * builds so the per-I/O path may use it freely.
 */
#define HY_LOG_ERR_ON  1
#define HY_LOG_WARN_ON 1
#define HY_LOG_INFO_ON 1
#ifdef HY_NO_DEBUG_LOG
#define HY_LOG_DEBUG_ON 0
#else
#define HY_LOG_DEBUG_ON 1
#endif

#define hy_log(LEVEL, err, ...)                                                                    \
	do {                                                                                       \
		if (HY_LOG_##LEVEL##_ON && HY_LOG_##LEVEL <= hy_log_get_level())                   \
			hy_log_write(HY_LOG_##LEVEL, (err), HY_LOG_COMPONENT, __VA_ARGS__);        \
	} while (0)

/*
 * Rate limiting for paths a guest can drive (SPDK's "squashed" messages): at most one line per
 * second per call site; the next line that gets through says how many were squashed.
 */
struct hy_ratelimit {
	uint64_t last_ns;
	uint64_t squashed;
};

/**
 * hy_ratelimit_ok() - may this call site log now?
 * Return: true to log; *squashed holds the count dropped since the last line.
 */
int hy_ratelimit_ok(struct hy_ratelimit *rl, uint64_t *squashed);

#define hy_log_rl(LEVEL, err, fmt, ...)                                                            \
	do {                                                                                       \
		static struct hy_ratelimit _rl;                                                    \
		uint64_t _sq;                                                                      \
		if (HY_LOG_##LEVEL##_ON && HY_LOG_##LEVEL <= hy_log_get_level() &&                 \
		    hy_ratelimit_ok(&_rl, &_sq)) {                                                 \
			if (_sq)                                                                   \
				hy_log_write(HY_LOG_##LEVEL, (err), HY_LOG_COMPONENT,              \
					     fmt " (same message squashed %llu times)",            \
					     ##__VA_ARGS__, (unsigned long long)_sq);              \
			else                                                                       \
				hy_log_write(HY_LOG_##LEVEL, (err), HY_LOG_COMPONENT, fmt,         \
					     ##__VA_ARGS__);                                       \
		}                                                                                  \
	} while (0)

/** hy_now_ns() - CLOCK_MONOTONIC in nanoseconds. */
uint64_t hy_now_ns(void);

#endif
