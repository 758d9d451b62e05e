/* SPDX-License-Identifier: MIT */
/*
 * The master's event loop and the supervision of workers.
 *
 * Signals reach the loop through a signalfd (no work in signal handlers). A worker's death is
 * seen on SIGCHLD at once; it is respawned on the same core, at once after a long life, with
 * exponential backoff when it keeps dying young, and never after exit code 2 (fatal
 * configuration), as nginx's master treats its workers. Workers die with the master
 * (PR_SET_PDEATHSIG), so a master restart leaves no orphan.
 */
#define HY_LOG_COMPONENT "master"
#include "master/master.h"
#include "master/nvme_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/vhost.h"
#include "shm/barrier.h"
#include "shm/log.h"
#include "shm/path.h"
#include "worker/worker.h"

#define CRASH_WINDOW_NS (1ull * 1000000000ull) /* dying sooner than this after start is "early" */
#define CRASH_FREE	3 /* early deaths in a row respawned at once before backing off */
#define BACKOFF_MIN_NS	(100ull * 1000000ull)
#define BACKOFF_MAX_NS	(30ull * 1000000000ull)
#define EXIT_WAIT_NS	(10ull * 1000000000ull)

static void ep_add(struct hy_master *m, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};

	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		hy_log(ERR, errno, "epoll_ctl(ADD, fd %d) failed", fd);
}

static void ep_del(struct hy_master *m, int fd)
{
	if (fd >= 0)
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int hy_listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	ret = hy_path_make_parent(path);
	if (ret < 0) {
		snprintf(err, errlen, "cannot create the folder for %s: %s", path, strerror(-ret));
		return ret;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
				 "%s exists and is not a socket; remove it or choose another path",
				 path);
			return -EEXIST;
		}
		/* A socket file: stale if nobody answers on it. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			snprintf(err, errlen,
				 "%s is being served by another process (another hydra?)", path);
			return -EADDRINUSE;
		}
		if (fd >= 0)
			close(fd);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

/* ---- workers ---------------------------------------------------------------------------- */

static int spawn(struct hy_master *m, struct hy_device *d, unsigned q)
{
	struct hy_worker_slot *w = &d->w[q];
	pid_t master = getpid(), pid;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		hy_log(ERR, errno, "device %s: socketpair() for worker %u failed", d->cfg->name, q);
		return -errno;
	}
	if (d->nvme) {
		int ret = hy_nvme_dev_queue_prepare(d->nvme, q);

		if (ret == -ERESTART) {
			/* The controller was reset: every queue pair of the device is gone. */
			for (unsigned o = 0; o < d->cfg->nqueues; o++)
				if (o != q && d->w[o].state == HY_W_UP && d->w[o].pid > 0) {
					hy_log(WARN, 0,
					       "device %s: restarting worker %u after the controller reset",
					       d->cfg->name, o);
					kill(d->w[o].pid, SIGKILL);
				}
		} else if (ret < 0) {
			hy_log(ERR, ret,
			       "device %s: no NVMe queue pair for worker %u; trying again in 1 s",
			       d->cfg->name, q);
			close(sp[0]);
			close(sp[1]);
			w->respawn_at_ns = hy_now_ns() + 1000000000ull;
			return ret;
		}
	}
	/* The new worker sets it at its first completion: the sign it made progress. */
	hy_store_relaxed(&d->shm->q[q].recovery_ns, 0);
	pid = fork();
	if (pid < 0) {
		int ret = -errno;

		hy_log(ERR, ret, "device %s: fork() of worker %u failed", d->cfg->name, q);
		close(sp[0]);
		close(sp[1]);
		return ret;
	}
	if (pid == 0) {
		struct hy_backend_info info = d->info;
		struct hy_worker_args a = {
			.dev = d->cfg,
			.info = &info,
			.shm = d->shm,
			.qidx = q,
			.cpu = w->cpu,
			.numa = w->numa,
		};
		char id[HY_NAME_MAX + 8], comm[16];
		sigset_t all;
		int chan, ram;

		/* Die with the master; if it is already gone, do not start at all. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != master)
			_exit(1);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_IGN);
		/* Keep only the channel (fd 3) and the ram disk (fd 4): nothing of other devices.
		 */
		chan = fcntl(sp[1], F_DUPFD, 100);
		ram = info.ram_fd >= 0 ? fcntl(info.ram_fd, F_DUPFD, 100) : -1;
		dup2(chan, 3);
		if (ram >= 0)
			dup2(ram, 4);
		close_range(5, ~0u, 0);
		a.chan = 3;
		info.ram_fd = ram >= 0 ? 4 : -1;
		snprintf(id, sizeof(id), "%s.%u", d->cfg->name, q);
		/* The kernel keeps 15 bytes of a process name: "hy-vda.0" and so on, cut short. */
		snprintf(comm, sizeof(comm), "hy-%.12s", id);
		prctl(PR_SET_NAME, comm);
		hy_log_init("worker", id, hy_log_get_level());
		hy_store_relaxed(&d->shm->q[q].pid, (int32_t)getpid());
		hy_store_relaxed(&d->shm->q[q].started_ns, hy_now_ns());
		_exit(hy_worker_run(&a));
	}
	close(sp[1]);
	w->chan = sp[0];
	w->pid = pid;
	w->state = HY_W_UP;
	w->started_ns = hy_now_ns();
	ep_add(m, w->chan, EPOLLIN, HY_TAG(HY_TAG_WCHAN, d->index, q));
	hy_log(DEBUG, 0, "device %s: worker %u is pid %d on cpu %d", d->cfg->name, q, (int)pid,
	       w->cpu);
	/* A respawned worker gets the frontend's memory and its ring back. */
	if (d->conn_fd >= 0) {
		if (d->nregions)
			hy_worker_send_memory(d, q);
		hy_device_sync_rings(d);
	}
	return 0;
}

static void arm_timer(struct hy_master *m)
{
	uint64_t next = 0, now = hy_now_ns();
	struct itimerspec its = {0};

	for (unsigned i = 0; i < m->ndev; i++)
		for (unsigned q = 0; q < m->devs[i].cfg->nqueues; q++) {
			struct hy_worker_slot *w = &m->devs[i].w[q];

			if (w->state == HY_W_DOWN && (!next || w->respawn_at_ns < next))
				next = w->respawn_at_ns;
		}
	if (next) {
		uint64_t delta = next > now ? next - now : 1;

		its.it_value.tv_sec = (time_t)(delta / 1000000000ull);
		its.it_value.tv_nsec = (long)(delta % 1000000000ull);
	}
	timerfd_settime(m->timerfd, 0, &its, NULL);
}

static void respawn_due(struct hy_master *m)
{
	uint64_t now = hy_now_ns();

	if (m->stopping)
		return;
	for (unsigned i = 0; i < m->ndev; i++)
		for (unsigned q = 0; q < m->devs[i].cfg->nqueues; q++) {
			struct hy_worker_slot *w = &m->devs[i].w[q];

			if (w->state == HY_W_DOWN && w->respawn_at_ns <= now &&
			    spawn(m, &m->devs[i], q) == 0)
				w->respawns++;
		}
	arm_timer(m);
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "stopped with status 0x%x", status);
}

static void worker_died(struct hy_master *m, struct hy_device *d, unsigned q, int status)
{
	struct hy_worker_slot *w = &d->w[q];
	uint64_t now = hy_now_ns(), delay = 0;
	pid_t pid = w->pid;
	char why[128];

	describe_status(status, why, sizeof(why));
	ep_del(m, w->chan);
	close(w->chan);
	w->chan = -1;
	w->pid = 0;
	w->last_status = status;
	w->died_ns = now;
	hy_store_relaxed(&d->shm->q[q].pid, 0);
	hy_store_relaxed(&d->shm->q[q].state, (uint32_t)HY_Q_DOWN);
	if (d->vq[q].running) {
		/* Restart the ring where the dead worker last said it was. */
		d->vq[q].last_avail = hy_load_relaxed(&d->shm->q[q].last_avail);
		d->vq[q].running = false;
	}
	if (w->state == HY_W_STOPPING || m->stopping) {
		w->state = HY_W_DOWN;
		w->respawn_at_ns = UINT64_MAX;
		hy_log(DEBUG, 0, "device %s: worker %u %s", d->cfg->name, q, why);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		w->state = HY_W_FATAL;
		hy_log(ERR, 0,
		       "device %s: worker %u %s (fatal configuration error); it will not be respawned",
		       d->cfg->name, q, why);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		/* Nobody asked it to stop (a stray SIGTERM?): its queue still needs serving. */
		hy_log(INFO, 0, "device %s: worker %u (pid %d) stopped on its own; respawning",
		       d->cfg->name, q, (int)pid);
		w->state = HY_W_DOWN;
		w->respawn_at_ns = now;
		return;
	}
	/*
	 * A crash loop is a worker that dies young without completing anything (a poisonous
	 * request resubmitted after every respawn, a backend that fails on open). One that was
	 * killed while it served I/O is respawned at once however often it happens.
	 */
	if (now - w->started_ns < CRASH_WINDOW_NS && !hy_load_relaxed(&d->shm->q[q].recovery_ns))
		w->crashes++;
	else
		w->crashes = 1;
	/*
	 * A few early deaths in a row are respawned at once (a killed worker is not a crash loop,
	 * and the guest waits meanwhile); from then on each one doubles the wait.
	 */
	if (w->crashes > CRASH_FREE) {
		delay = BACKOFF_MIN_NS
			<< (w->crashes - CRASH_FREE - 1 < 9 ? w->crashes - CRASH_FREE - 1 : 9);
		if (delay > BACKOFF_MAX_NS)
			delay = BACKOFF_MAX_NS;
	}
	w->state = HY_W_DOWN;
	w->respawn_at_ns = now + delay;
	if (w->crashes > CRASH_FREE)
		hy_log(ERR, 0,
		       "device %s: worker %u %s; %u deaths in a row within %llu s of starting without completing a request, next respawn in %llu ms",
		       d->cfg->name, q, why, w->crashes,
		       (unsigned long long)(CRASH_WINDOW_NS / 1000000000ull),
		       (unsigned long long)(delay / 1000000ull));
	else
		hy_log(WARN, 0, "device %s: worker %u (pid %d) %s; respawning on cpu %d",
		       d->cfg->name, q, (int)pid, why, w->cpu);
}

/* Collect every child that has exited and hand each to worker_died(). */
static void reap(struct hy_master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;

		for (unsigned i = 0; i < m->ndev && !found; i++)
			for (unsigned q = 0; q < m->devs[i].cfg->nqueues && !found; q++)
				if (m->devs[i].w[q].pid == pid &&
				    m->devs[i].w[q].state != HY_W_DOWN) {
					worker_died(m, &m->devs[i], q, status);
					found = true;
				}
	}
}

static void reap_children(struct hy_master *m)
{
	reap(m);
	respawn_due(m);
}

int hy_master_repin(struct hy_master *m, struct hy_device *d, unsigned q, int cpu, char *err,
		    size_t errlen)
{
	static struct hy_cmd cmd;
	char list[256];
	int ret;

	if (q >= d->cfg->nqueues) {
		snprintf(err, errlen, "device %s has queues 0-%u", d->cfg->name,
			 d->cfg->nqueues - 1);
		return -EINVAL;
	}
	if (cpu < 0 || cpu >= HY_MAX_CPUS || !m->machine->present[cpu]) {
		hy_machine_cpulist(m->machine, list, sizeof(list));
		snprintf(err, errlen, "cpu %d does not exist on this machine (cpus %s)", cpu, list);
		return -EINVAL;
	}
	d->w[q].cpu = cpu;
	d->w[q].numa = m->machine->node[cpu];
	d->cfg->queues[q].cpu = cpu;
	d->cfg->queues[q].numa = d->w[q].numa;
	hy_store_relaxed(&d->shm->q[q].cpu_target, (uint32_t)cpu);
	if (d->w[q].state != HY_W_UP)
		return 0; /* it starts there when it comes back */
	memset(&cmd, 0, sizeof(cmd));
	cmd.type = HY_CMD_PIN;
	cmd.arg = (uint32_t)cpu | (uint64_t)(uint32_t)d->w[q].numa << 32;
	ret = hy_worker_call(d, q, &cmd, NULL, 0, NULL);
	if (ret < 0)
		snprintf(err, errlen, "worker %u of %s could not move to cpu %d: %s", q,
			 d->cfg->name, cpu, strerror(-ret));
	else
		hy_log(INFO, 0, "device %s: queue %u re-pinned to cpu %d", d->cfg->name, q, cpu);
	return ret;
}

/* ---- frontends -------------------------------------------------------------------------- */

static void disconnect(struct hy_master *m, struct hy_device *d, const char *why)
{
	if (d->conn_fd < 0)
		return;
	hy_log(INFO, 0, "device %s: frontend pid %d %s", d->cfg->name, (int)d->peer_pid, why);
	ep_del(m, d->conn_fd);
	close(d->conn_fd);
	d->conn_fd = -1;
	d->peer_pid = 0;
	hy_device_reset(d);
}

static void accept_frontend(struct hy_master *m, struct hy_device *d)
{
	struct timeval tv = {.tv_sec = 2};
	struct ucred cred = {0};
	socklen_t len = sizeof(cred);
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	if (d->conn_fd >= 0) {
		hy_log(WARN, 0,
		       "device %s: refusing frontend pid %d: pid %d is connected and a device serves one frontend at a time",
		       d->cfg->name, (int)cred.pid, (int)d->peer_pid);
		close(fd);
		return;
	}
	/* A frontend that stops in the middle of a message must not hang the master. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	d->conn_fd = fd;
	d->peer_pid = cred.pid;
	d->connects++;
	ep_add(m, fd, EPOLLIN | EPOLLRDHUP, HY_TAG(HY_TAG_CONN, d->index, 0));
	hy_log(INFO, 0, "device %s: frontend pid %d connected", d->cfg->name, (int)cred.pid);
}

static void frontend_readable(struct hy_master *m, struct hy_device *d)
{
	static struct hy_vu_msg msg, reply;
	int fds[HY_CHAN_MAX_FDS];
	unsigned nfds;
	int ret;

	ret = hy_vhost_recv(d->conn_fd, &msg, fds, &nfds);
	if (ret == -ECONNRESET) {
		disconnect(m, d, "disconnected");
		return;
	}
	if (ret < 0) {
		hy_log(ERR, ret, "device %s: cannot read from the frontend; device marked broken",
		       d->cfg->name);
		disconnect(m, d, "dropped");
		return;
	}
	ret = hy_vhost_handle(d, &msg, fds, nfds, &reply);
	if (ret == 1 && hy_vhost_send(d->conn_fd, &reply, d->reply_fd) < 0)
		ret = -EPIPE;
	if (ret < 0 && (ret == -EPROTO || ret == -EPIPE || d->broken)) {
		hy_log(ERR, 0,
		       "device %s: frontend broke the protocol at %s; device marked broken, connection closed",
		       d->cfg->name, hy_vhost_request_name(msg.request));
		disconnect(m, d, "disconnected by us");
	}
}

/* ---- the loop --------------------------------------------------------------------------- */

static void shutdown_workers(struct hy_master *m)
{
	static struct hy_cmd cmd;
	uint64_t deadline;

	m->stopping = 1;
	for (unsigned i = 0; i < m->ndev; i++) {
		struct hy_device *d = &m->devs[i];

		if (d->conn_fd >= 0)
			disconnect(m, d, "disconnected: hydra is stopping");
		for (unsigned q = 0; q < d->cfg->nqueues; q++) {
			if (d->w[q].state != HY_W_UP)
				continue;
			memset(&cmd, 0, sizeof(cmd));
			cmd.type = HY_CMD_EXIT;
			hy_worker_call(d, q, &cmd, NULL, 0, NULL);
			d->w[q].state = HY_W_STOPPING;
		}
	}
	deadline = hy_now_ns() + EXIT_WAIT_NS;
	for (;;) {
		bool alive = false;

		reap(m);
		for (unsigned i = 0; i < m->ndev; i++)
			for (unsigned q = 0; q < m->devs[i].cfg->nqueues; q++)
				if (m->devs[i].w[q].pid > 0)
					alive = true;
		if (!alive)
			break;
		if (hy_now_ns() > deadline) {
			hy_log(WARN, 0, "workers did not exit in 10 s; killing them");
			for (unsigned i = 0; i < m->ndev; i++)
				for (unsigned q = 0; q < m->devs[i].cfg->nqueues; q++)
					if (m->devs[i].w[q].pid > 0)
						kill(m->devs[i].w[q].pid, SIGKILL);
			deadline = UINT64_MAX;
		}
		usleep(10000);
	}
}

static int setup(struct hy_master *m)
{
	char err[512];
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	m->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (m->sigfd < 0 || m->epfd < 0 || m->timerfd < 0) {
		hy_log(ERR, errno, "cannot set up the event loop");
		return 1;
	}
	ep_add(m, m->sigfd, EPOLLIN, HY_TAG(HY_TAG_SIGNAL, 0, 0));
	ep_add(m, m->timerfd, EPOLLIN, HY_TAG(HY_TAG_TIMER, 0, 0));

	for (unsigned i = 0; i < m->ndev; i++) {
		struct hy_device *d = &m->devs[i];

		if (hy_device_init(d, &m->topo->devices[i], i, err, sizeof(err)) < 0) {
			hy_log(ERR, 0, "%s", err);
			return 2;
		}
		d->listen_fd = hy_listen_unix(d->cfg->socket, err, sizeof(err));
		if (d->listen_fd < 0) {
			hy_log(ERR, 0, "device %s: %s", d->cfg->name, err);
			return 2;
		}
		ep_add(m, d->listen_fd, EPOLLIN, HY_TAG(HY_TAG_LISTEN, i, 0));
	}
	if (hy_status_open(m) < 0)
		return 2;
	if (hy_worker_topology_load() < 0) {
		hy_log(ERR, errno, "hwloc cannot read this machine's topology");
		return 1;
	}
	for (unsigned i = 0; i < m->ndev; i++)
		for (unsigned q = 0; q < m->devs[i].cfg->nqueues; q++)
			if (spawn(m, &m->devs[i], q) < 0)
				return 1;
	return 0;
}

static void teardown(struct hy_master *m)
{
	hy_status_close(m);
	for (unsigned i = 0; i < m->ndev; i++) {
		struct hy_device *d = &m->devs[i];

		if (d->listen_fd >= 0) {
			close(d->listen_fd);
			unlink(d->cfg->socket);
		}
		if (d->info.ram_fd >= 0)
			close(d->info.ram_fd);
		hy_nvme_dev_close(d->nvme);
		d->nvme = NULL;
		hy_shm_dev_destroy(d->shm);
	}
}

static bool handle_signals(struct hy_master *m)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			reap_children(m);
		} else if (si.ssi_signo == SIGHUP) {
			hy_log(INFO, 0,
			       "SIGHUP ignored: change the topology and restart, or use hydractl");
		} else {
			hy_log(INFO, 0, "%s received; draining and stopping",
			       strsignal((int)si.ssi_signo));
			/* Set now: a SIGCHLD later in this batch must not respawn anything. */
			m->stopping = 1;
			stop = true;
		}
	}
	return stop;
}

int hy_master_run(struct hy_topology *topo, struct hy_machine *machine)
{
	static struct hy_master master;
	struct hy_master *m = &master;
	struct epoll_event evs[32];
	int ret;

	m->topo = topo;
	m->machine = machine;
	m->ndev = topo->ndevices;
	m->devs = calloc(m->ndev, sizeof(*m->devs));
	m->status_fd = -1;
	m->started_ns = hy_now_ns();
	for (unsigned i = 0; i < HY_STATUS_MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	if (!m->devs)
		return 1;
	ret = setup(m);
	if (ret) {
		shutdown_workers(m);
		teardown(m);
		return ret;
	}
	for (unsigned i = 0; i < m->ndev; i++)
		hy_log(INFO, 0, "device %s: %s backend, %llu bytes, %u queues, serving %s",
		       m->devs[i].cfg->name, hy_backend_name(m->devs[i].cfg->type),
		       (unsigned long long)m->devs[i].info.capacity, m->devs[i].cfg->nqueues,
		       m->devs[i].cfg->socket);
	hy_log(INFO, 0, "status socket %s; ready", topo->status_socket);

	while (!m->stopping) {
		int n = epoll_wait(m->epfd, evs, 32, -1);

		if (n < 0 && errno != EINTR) {
			hy_log(ERR, errno, "epoll_wait failed");
			break;
		}
		for (int i = 0; i < n && !m->stopping; i++) {
			uint64_t tag = evs[i].data.u64;
			unsigned kind = (unsigned)(tag >> 48),
				 dev = (unsigned)((tag >> 32) & 0xffff);
			uint32_t idx = (uint32_t)tag;
			struct hy_device *d = dev < m->ndev ? &m->devs[dev] : NULL;

			switch (kind) {
			case HY_TAG_SIGNAL:
				if (handle_signals(m))
					m->stopping = 1;
				break;
			case HY_TAG_TIMER: {
				uint64_t ticks;

				if (read(m->timerfd, &ticks, sizeof(ticks)) < 0) {
					/* EAGAIN: nothing due. */
				}
				respawn_due(m);
				break;
			}
			case HY_TAG_LISTEN:
				accept_frontend(m, d);
				break;
			case HY_TAG_CONN:
				if (d->conn_fd < 0)
					break;
				if (evs[i].events & EPOLLIN)
					frontend_readable(m, d);
				else if (evs[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
					disconnect(m, d, "disconnected");
				break;
			case HY_TAG_WCHAN:
				if (evs[i].events & EPOLLIN)
					hy_device_worker_readable(d, idx);
				if (evs[i].events & (EPOLLHUP | EPOLLERR))
					ep_del(m, d->w[idx].chan); /* SIGCHLD does the rest */
				if (d->broken && d->conn_fd >= 0)
					disconnect(m, d, "disconnected: its ring is broken");
				break;
			case HY_TAG_STATUS:
				hy_status_accept(m);
				break;
			case HY_TAG_CLIENT:
				hy_status_event(m, idx, evs[i].events);
				break;
			}
		}
	}
	shutdown_workers(m);
	teardown(m);
	hy_log(INFO, 0, "stopped");
	return 0;
}
