/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the status-socket command line: the input is cut at newlines and each line
 * goes to hy_status_execute() on a master with two devices (null backend, every worker DOWN) on a
 * fake two-cpu machine. Every reply must be a newline-terminated C string; it is freed at once.
 * The first device's name holds characters that JSON must escape.
 *
 * status.c is included rather than linked so that it gets the fuzzer's coverage instrumentation.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/status.c"

#define MAX_LINE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hy_topology topo;
static struct hy_machine machine;
static struct hy_device devs[2];
static struct hy_master master;

static void init_once(void)
{
	char err[256];

	hy_log_init("fuzz", NULL, HY_LOG_ERR);
	machine.ncpus = 2;
	machine.nnodes = 1;
	machine.present[0] = machine.present[1] = true;
	topo.ndevices = 2;
	for (unsigned i = 0; i < 2; i++) {
		struct hy_topo_device *c = &topo.devices[i];

		snprintf(c->name, sizeof(c->name), i ? "vdb" : "v\"d\\a\x01");
		snprintf(c->socket, sizeof(c->socket), "/run/hydra/%u\".sock", i);
		c->type = HY_BE_NULL;
		c->size = 1 << 20;
		c->nqueues = 2;
		c->queue_size = 128;
		c->block_size = 512;
		c->queues[1].cpu = 1;
		if (hy_device_init(&devs[i], c, i, err, sizeof(err)) < 0) {
			fprintf(stderr, "fuzz_status: %s\n", err);
			abort();
		}
	}
	master.topo = &topo;
	master.machine = &machine;
	master.devs = devs;
	master.ndev = 2;
	master.epfd = master.sigfd = master.timerfd = master.status_fd = -1;
	for (unsigned i = 0; i < HY_STATUS_MAX_CLIENTS; i++)
		master.clients[i].fd = -1;
	master.started_ns = hy_now_ns();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static char line[MAX_LINE + 1];
	size_t off = 0;

	if (!ready) {
		init_once();
		ready = true;
	}
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = (nl ? (size_t)(nl - data) : size) - off;
		char *reply;
		size_t rlen;

		memcpy(line, data + off, len < MAX_LINE ? len : MAX_LINE);
		line[len < MAX_LINE ? len : MAX_LINE] = '\0';
		off += len + 1;

		reply = hy_status_execute(&master, line);
		if (!reply)
			abort();
		rlen = strlen(reply);
		if (rlen == 0 || reply[rlen - 1] != '\n')
			abort();
		/* A JSON reply is one line. */
		if (reply[0] == '{' && memchr(reply, '\n', rlen - 1))
			abort();
		free(reply);
	}
	/* log-level debug would make every later run slow and loud. */
	hy_log_set_level(HY_LOG_ERR);
	return 0;
}
