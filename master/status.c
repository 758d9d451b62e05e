/* SPDX-License-Identifier: MIT */
/*
 * The status socket: a line protocol on a unix stream socket for hydractl and for people.
 *
 *   status              -> one line of JSON describing every device, queue and worker
 *   show                -> the same as a human-readable table (several lines, then a blank line)
 *   pin DEV QUEUE CPU   -> move a queue's worker to another core while the VM runs
 *   log-level LEVEL     -> error, warn, info or debug, for the master and every worker
 *   help                -> the list of commands
 *
 * Every reply ends with a newline; errors are one JSON line {"error": "..."}. A line longer
 * than 1023 bytes, or more than 16 clients at once, gets an error and the connection closed.
 */
#define HY_LOG_COMPONENT "status"
#include "master/master.h"
#include "master/nvme_dev.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm/barrier.h"
#include "shm/log.h"

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A JSON string: the names we print come from the topology, which may hold anything. */
static void bjson_str(struct buf *b, const char *s)
{
	bprintf(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			bprintf(b, "\\%c", c);
		else if (c < 0x20)
			bprintf(b, "\\u%04x", c);
		else
			bprintf(b, "%c", c);
	}
	bprintf(b, "\"");
}

static char *finish(struct buf *b)
{
	if (b->oom) {
		free(b->p);
		return strdup("{\"error\": \"out of memory\"}\n");
	}
	return b->p;
}

static char *error_reply(const char *msg)
{
	struct buf b = {0};

	bprintf(&b, "{\"error\": ");
	bjson_str(&b, msg);
	bprintf(&b, "}\n");
	return finish(&b);
}

static const char *worker_state_name(enum hy_wstate s)
{
	static const char *const names[] = {"down", "up", "fatal", "stopping"};

	return (unsigned)s < 4 ? names[s] : "unknown";
}

static char *status_json(struct hy_master *m)
{
	struct buf b = {0};

	bprintf(&b, "{\"version\": \"%s\", \"pid\": %d, \"uptime_s\": %.1f, \"devices\": [",
		HY_VERSION, (int)getpid(), (double)(hy_now_ns() - m->started_ns) / 1e9);
	for (unsigned i = 0; i < m->ndev; i++) {
		struct hy_device *d = &m->devs[i];

		bprintf(&b, "%s{\"name\": ", i ? ", " : "");
		bjson_str(&b, d->cfg->name);
		bprintf(&b, ", \"socket\": ");
		bjson_str(&b, d->cfg->socket);
		bprintf(&b,
			", \"backend\": \"%s\", \"capacity\": %llu, \"block_size\": %u, \"read_only\": %s, \"writeback\": %s, \"connected\": %s, \"frontend_pid\": %d, \"connects\": %llu, \"features\": \"0x%llx\", \"memory_regions\": %u",
			hy_backend_name(d->cfg->type), (unsigned long long)d->info.capacity,
			d->info.block_size, d->cfg->read_only ? "true" : "false",
			hy_load_relaxed(&d->shm->writeback) ? "true" : "false",
			d->conn_fd >= 0 ? "true" : "false", (int)d->peer_pid,
			(unsigned long long)d->connects, (unsigned long long)d->features,
			d->nregions);
		if (d->nvme) {
			char nv[1024];

			hy_nvme_dev_status_json(d->nvme, nv, sizeof(nv));
			bprintf(&b, ", \"nvme\": %s", nv);
		}
		bprintf(&b, ", \"queues\": [");
		for (unsigned q = 0; q < d->cfg->nqueues; q++) {
			struct hy_shm_queue *sq = &d->shm->q[q];
			struct hy_shm_stats *s = &sq->stats;

			bprintf(&b,
				"%s{\"index\": %u, \"pid\": %d, \"worker\": \"%s\", \"state\": \"%s\", \"cpu\": %d, \"numa\": %d, \"vring_running\": %s, \"vring_num\": %u, \"last_avail\": %u, \"used_idx\": %u, \"respawns\": %u, \"crashes_in_a_row\": %u, ",
				q ? ", " : "", q, (int)d->w[q].pid,
				worker_state_name(d->w[q].state),
				hy_queue_state_name(hy_load_relaxed(&sq->state)),
				(int)hy_load_relaxed(&sq->cpu), (int)hy_load_relaxed(&sq->numa),
				d->vq[q].running ? "true" : "false",
				hy_load_relaxed(&sq->vring_num), hy_load_relaxed(&sq->last_avail),
				hy_load_relaxed(&sq->used_idx), d->w[q].respawns, d->w[q].crashes);
			bprintf(&b,
				"\"requests\": %llu, \"reads\": %llu, \"writes\": %llu, \"flushes\": %llu, \"discards\": %llu, \"write_zeroes\": %llu, \"read_bytes\": %llu, \"write_bytes\": %llu, \"io_errors\": %llu, \"unsupported\": %llu, \"bad_chains\": %llu, \"signals\": %llu, \"wakeups\": %llu, \"inflight\": %llu}",
				(unsigned long long)hy_load_relaxed(&s->requests),
				(unsigned long long)hy_load_relaxed(&s->reads),
				(unsigned long long)hy_load_relaxed(&s->writes),
				(unsigned long long)hy_load_relaxed(&s->flushes),
				(unsigned long long)hy_load_relaxed(&s->discards),
				(unsigned long long)hy_load_relaxed(&s->write_zeroes),
				(unsigned long long)hy_load_relaxed(&s->read_bytes),
				(unsigned long long)hy_load_relaxed(&s->write_bytes),
				(unsigned long long)hy_load_relaxed(&s->io_errors),
				(unsigned long long)hy_load_relaxed(&s->unsupported),
				(unsigned long long)hy_load_relaxed(&s->bad_chains),
				(unsigned long long)hy_load_relaxed(&s->signals),
				(unsigned long long)hy_load_relaxed(&s->wakeups),
				(unsigned long long)hy_load_relaxed(&s->inflight));
		}
		bprintf(&b, "]}");
	}
	bprintf(&b, "]}\n");
	return finish(&b);
}

static char *status_table(struct hy_master *m)
{
	struct buf b = {0};

	bprintf(&b, "hydra %s, pid %d, up %.0f s\n", HY_VERSION, (int)getpid(),
		(double)(hy_now_ns() - m->started_ns) / 1e9);
	for (unsigned i = 0; i < m->ndev; i++) {
		struct hy_device *d = &m->devs[i];

		bprintf(&b, "\n%s  %s backend, %llu MiB, %s, %s  socket %s\n", d->cfg->name,
			hy_backend_name(d->cfg->type), (unsigned long long)(d->info.capacity >> 20),
			d->cfg->read_only ? "read-only" : "read-write",
			d->conn_fd >= 0 ? "frontend connected" : "no frontend", d->cfg->socket);
		bprintf(&b, "  %-5s %-8s %-9s %-4s %-4s %12s %12s %12s %8s %8s %8s\n", "queue",
			"pid", "state", "cpu", "numa", "requests", "read MiB", "write MiB",
			"errors", "inflight", "respawns");
		for (unsigned q = 0; q < d->cfg->nqueues; q++) {
			struct hy_shm_queue *sq = &d->shm->q[q];
			struct hy_shm_stats *s = &sq->stats;

			bprintf(&b,
				"  %-5u %-8d %-9s %-4d %-4d %12llu %12.1f %12.1f %8llu %8llu %8u\n",
				q, (int)d->w[q].pid,
				d->w[q].state == HY_W_UP
					? hy_queue_state_name(hy_load_relaxed(&sq->state))
					: worker_state_name(d->w[q].state),
				(int)hy_load_relaxed(&sq->cpu), (int)hy_load_relaxed(&sq->numa),
				(unsigned long long)hy_load_relaxed(&s->requests),
				(double)hy_load_relaxed(&s->read_bytes) / 1048576.0,
				(double)hy_load_relaxed(&s->write_bytes) / 1048576.0,
				(unsigned long long)(hy_load_relaxed(&s->io_errors) +
						     hy_load_relaxed(&s->bad_chains)),
				(unsigned long long)hy_load_relaxed(&s->inflight),
				d->w[q].respawns);
		}
	}
	bprintf(&b, "\n");
	return finish(&b);
}

static struct hy_device *find_device(struct hy_master *m, const char *name)
{
	for (unsigned i = 0; i < m->ndev; i++)
		if (!strcmp(m->devs[i].cfg->name, name))
			return &m->devs[i];
	return NULL;
}

/* A whole decimal number in [0, max]; anything else is -1. */
static long parse_num(const char *s, long max)
{
	char *end;
	long v;

	/* Digits only: strtol() would skip white space such as \v that does not split words. */
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	return v;
}

char *hy_status_execute(struct hy_master *m, const char *line)
{
	char copy[1024], *argv[8], *save = NULL, *tok;
	int argc = 0;

	/* Cutting a long line short could change its meaning ("pin vda 1 12..." to "pin vda 1 1").
	 */
	if (strnlen(line, sizeof(copy)) == sizeof(copy))
		return error_reply("line longer than 1023 bytes");
	memcpy(copy, line, strlen(line) + 1);
	for (tok = strtok_r(copy, " \t\r\n", &save); tok && argc < 8;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = tok;
	if (tok)
		return error_reply("too many words");
	if (argc == 0)
		return error_reply("empty command; try 'help'");
	if (!strcmp(argv[0], "status") && argc == 1)
		return status_json(m);
	if (!strcmp(argv[0], "show") && argc == 1)
		return status_table(m);
	if (!strcmp(argv[0], "help") && argc == 1)
		return strdup(
			"{\"commands\": [\"status\", \"show\", \"pin DEVICE QUEUE CPU\", \"log-level error|warn|info|debug\", \"help\"]}\n");
	if (!strcmp(argv[0], "pin")) {
		struct hy_device *d;
		long q, cpu;
		char err[256];

		if (argc != 4)
			return error_reply("usage: pin DEVICE QUEUE CPU");
		d = find_device(m, argv[1]);
		if (!d)
			return error_reply("no such device");
		q = parse_num(argv[2], HY_MAX_QUEUES - 1);
		cpu = parse_num(argv[3], HY_MAX_CPUS - 1);
		if (q < 0)
			return error_reply("QUEUE must be a queue index");
		if (cpu < 0)
			return error_reply("CPU must be a cpu number");
		if (hy_master_repin(m, d, (unsigned)q, (int)cpu, err, sizeof(err)) < 0)
			return error_reply(err);
		return strdup("{\"ok\": true}\n");
	}
	if (!strcmp(argv[0], "log-level")) {
		static struct hy_cmd cmd;
		int level;

		if (argc != 2 || (level = hy_log_level_parse(argv[1])) < 0)
			return error_reply("usage: log-level error|warn|info|debug");
		hy_log_set_level((enum hy_log_level)level);
		for (unsigned i = 0; i < m->ndev; i++)
			for (unsigned q = 0; q < m->devs[i].cfg->nqueues; q++) {
				memset(&cmd, 0, sizeof(cmd));
				cmd.type = HY_CMD_LOG_LEVEL;
				cmd.arg = (uint64_t)level;
				hy_worker_call(&m->devs[i], q, &cmd, NULL, 0, NULL);
			}
		return strdup("{\"ok\": true}\n");
	}
	return error_reply("unknown command; expected status, show, pin, log-level or help");
}

int hy_status_open(struct hy_master *m)
{
	char err[256];
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = HY_TAG(HY_TAG_STATUS, 0, 0)};

	m->status_fd = hy_listen_unix(m->topo->status_socket, err, sizeof(err));
	if (m->status_fd < 0) {
		hy_log(ERR, 0, "status socket: %s", err);
		return m->status_fd;
	}
	epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->status_fd, &ev);
	return 0;
}

static void client_close(struct hy_master *m, struct hy_status_client *c)
{
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void hy_status_accept(struct hy_master *m)
{
	int fd = accept4(m->status_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (unsigned i = 0; i < HY_STATUS_MAX_CLIENTS; i++) {
		struct hy_status_client *c = &m->clients[i];
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.u64 = HY_TAG(HY_TAG_CLIENT, 0, i)};

		if (c->fd >= 0)
			continue;
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
		return;
	}
	static const char busy[] = "{\"error\": \"too many status clients\"}\n";

	if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* It is being turned away anyway. */
	}
	close(fd);
}

/* Send what is queued; return false when the client is gone. */
static bool client_flush(struct hy_master *m, unsigned slot)
{
	struct hy_status_client *c = &m->clients[slot];
	struct epoll_event ev = {.data.u64 = HY_TAG(HY_TAG_CLIENT, 0, slot)};

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
	}
	/* Stop reading new commands while a reply is still going out. */
	ev.events = c->out ? EPOLLOUT : EPOLLIN;
	epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	return true;
}

/* Answer every complete line buffered; return false when the client is gone. */
static bool process_lines(struct hy_master *m, unsigned slot)
{
	struct hy_status_client *c = &m->clients[slot];
	char *nl;

	while (!c->out && (nl = memchr(c->in, '\n', c->in_len))) {
		*nl = '\0';
		c->out = hy_status_execute(m, c->in);
		c->out_len = c->out ? strlen(c->out) : 0;
		c->out_off = 0;
		c->in_len -= (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->in_len);
		if (!client_flush(m, slot))
			return false;
	}
	return true;
}

void hy_status_event(struct hy_master *m, unsigned slot, uint32_t events)
{
	struct hy_status_client *c;

	if (slot >= HY_STATUS_MAX_CLIENTS || m->clients[slot].fd < 0)
		return;
	c = &m->clients[slot];
	if (events & EPOLLOUT) {
		if (!client_flush(m, slot) || !process_lines(m, slot))
			client_close(m, c);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR) && !(events & EPOLLIN)) {
		client_close(m, c);
		return;
	}
	while (!c->out) {
		ssize_t n =
			recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_close(m, c);
			return;
		}
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		if (!process_lines(m, slot)) {
			client_close(m, c);
			return;
		}
		if (!c->out && c->in_len == sizeof(c->in) - 1) {
			static const char longline[] =
				"{\"error\": \"line longer than 1023 bytes\"}\n";

			if (send(c->fd, longline, sizeof(longline) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* Closing anyway. */
			}
			client_close(m, c);
			return;
		}
	}
}

void hy_status_close(struct hy_master *m)
{
	for (unsigned i = 0; i < HY_STATUS_MAX_CLIENTS; i++)
		if (m->clients[i].fd >= 0)
			client_close(m, &m->clients[i]);
	if (m->status_fd >= 0) {
		close(m->status_fd);
		unlink(m->topo->status_socket);
		m->status_fd = -1;
	}
}
