/* SPDX-License-Identifier: MIT */
/*
 * The master process: one event loop over the vhost-user sockets, the workers' channels, signals,
 * the respawn timer and the status socket.
 */
#ifndef HY_MASTER_MASTER_H
#define HY_MASTER_MASTER_H

#include "master/cpu.h"
#include "master/device.h"
#include "master/topology.h"

#define HY_STATUS_MAX_CLIENTS 16

struct hy_status_client {
	int fd;
	char in[1024];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
};

struct hy_master {
	struct hy_topology *topo;
	struct hy_machine *machine;
	struct hy_device *devs;
	unsigned ndev;
	int epfd;
	int sigfd;
	int timerfd;
	int status_fd;
	struct hy_status_client clients[HY_STATUS_MAX_CLIENTS];
	uint64_t started_ns;
	int stopping;
};

/* epoll tags: kind in the top 16 bits, device in the next 16, queue or slot in the low 32. */
enum hy_tag_kind {
	HY_TAG_LISTEN = 1,
	HY_TAG_CONN,
	HY_TAG_WCHAN,
	HY_TAG_SIGNAL,
	HY_TAG_TIMER,
	HY_TAG_STATUS,
	HY_TAG_CLIENT,
};
#define HY_TAG(kind, dev, idx) ((uint64_t)(kind) << 48 | (uint64_t)(dev) << 32 | (uint32_t)(idx))

/**
 * hy_master_run() - serve @topo until SIGTERM or SIGINT.
 * Return: process exit code (0 clean, 1 transient failure, 2 configuration error).
 */
int hy_master_run(struct hy_topology *topo, struct hy_machine *machine);

/** hy_status_open() - listen on the topology's status socket. Return: 0 or -errno. */
int hy_status_open(struct hy_master *m);

/** hy_status_accept() - take a new status client. */
void hy_status_accept(struct hy_master *m);

/** hy_status_event() - a client is readable or writable. */
void hy_status_event(struct hy_master *m, unsigned slot, uint32_t events);

/** hy_status_close() - close every client and the listening socket, unlink it. */
void hy_status_close(struct hy_master *m);

/**
 * hy_status_execute() - run one status-socket command line and return its reply (malloc'd,
 * newline-terminated). Exposed for tests and the fuzz target.
 */
char *hy_status_execute(struct hy_master *m, const char *line);

/**
 * hy_master_repin() - move queue @q of @d to @cpu while it runs.
 * Return: 0 or -errno with @err set.
 */
int hy_master_repin(struct hy_master *m, struct hy_device *d, unsigned q, int cpu, char *err,
		    size_t errlen);

/** hy_device_worker_readable() - drain unsolicited messages from worker @q. */
void hy_device_worker_readable(struct hy_device *d, unsigned q);

/** hy_listen_unix() - bind and listen on @path, replacing a stale socket. Return fd or -errno. */
int hy_listen_unix(const char *path, char *err, size_t errlen);

#endif
