/* SPDX-License-Identifier: MIT */
/*
 * hydractl: talk to a running hydra through its status socket.
 *
 *   hydractl [-s SOCKET] status [--json]   the devices, queues and workers
 *   hydractl [-s SOCKET] watch [SECONDS]    the table, refreshed (Ctrl-C to stop)
 *   hydractl [-s SOCKET] pin DEV QUEUE CPU  move a queue's worker to another core
 *   hydractl [-s SOCKET] log-level LEVEL    error, warn, info or debug
 *
 * Exit codes: 0 done, 1 hydra answered with an error or could not be reached, 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT_MS 10000

static void usage(FILE *out)
{
	fprintf(out, "Usage: hydractl [-s SOCKET] status [--json]\n"
		     "       hydractl [-s SOCKET] watch [SECONDS]\n"
		     "       hydractl [-s SOCKET] pin DEVICE QUEUE CPU\n"
		     "       hydractl [-s SOCKET] log-level error|warn|info|debug\n"
		     "\n"
		     "SOCKET defaults to $HYDRA_STATUS_SOCKET, then run/status.sock (the shipped\n"
		     "topology's), then /run/hydra/status.sock.\n");
}

static const char *default_socket(void)
{
	const char *env = getenv("HYDRA_STATUS_SOCKET");

	if (env && *env)
		return env;
	if (access("run/status.sock", F_OK) == 0)
		return "run/status.sock";
	return "/run/hydra/status.sock";
}

/* Send one command; return the malloc'd reply or NULL with a message printed. */
static char *ask(const char *path, const char *cmd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = 0, cap = 65536;
	char *buf;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "hydractl: socket path too long: %s\n", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
			"hydractl: cannot connect to %s: %s (is hydra running? -s SOCKET)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (dprintf(fd, "%s\n", cmd) < 0 || shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "hydractl: cannot send to %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	buf = malloc(cap);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (!buf)
			break;
		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "hydractl: no answer from %s within %d s\n", path,
				TIMEOUT_MS / 1000);
			free(buf);
			buf = NULL;
			break;
		}
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	if (buf && !len) {
		fprintf(stderr, "hydractl: %s closed the connection without answering\n", path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Print the reply; JSON errors go to stderr. Return the exit code. */
static int print_reply(char *reply)
{
	if (!reply)
		return 1;
	if (!strncmp(reply, "{\"error\"", 8)) {
		fprintf(stderr, "hydractl: hydra says: %s", reply);
		free(reply);
		return 1;
	}
	fputs(reply, stdout);
	free(reply);
	return 0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	char cmd[512];
	int i = 1;

	if (i + 1 < argc && !strcmp(argv[i], "-s")) {
		sock = argv[i + 1];
		i += 2;
	}
	if (!sock)
		sock = default_socket();
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[i], "status")) {
		if (argc == i + 1)
			return print_reply(ask(sock, "show"));
		if (argc == i + 2 && !strcmp(argv[i + 1], "--json"))
			return print_reply(ask(sock, "status"));
	} else if (!strcmp(argv[i], "watch") && argc <= i + 2) {
		char *end;
		long secs = argc == i + 2 ? strtol(argv[i + 1], &end, 10) : 1;

		if (argc == i + 2 && (*end || secs < 1 || secs > 3600)) {
			fprintf(stderr, "hydractl: watch takes 1 to 3600 seconds\n");
			return 2;
		}
		for (;;) {
			char *r = ask(sock, "show");

			if (!r)
				return 1;
			printf("\033[H\033[2J%s", r);
			fflush(stdout);
			free(r);
			sleep((unsigned)secs);
		}
	} else if (!strcmp(argv[i], "pin") && argc == i + 4) {
		snprintf(cmd, sizeof(cmd), "pin %s %s %s", argv[i + 1], argv[i + 2], argv[i + 3]);
		return print_reply(ask(sock, cmd));
	} else if (!strcmp(argv[i], "log-level") && argc == i + 2) {
		snprintf(cmd, sizeof(cmd), "log-level %s", argv[i + 1]);
		return print_reply(ask(sock, cmd));
	}
	usage(stderr);
	return 2;
}
