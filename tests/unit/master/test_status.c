/* SPDX-License-Identifier: MIT */
/*
 * master/status.c: the status-socket command line, through hy_status_execute(). The master is
 * built by hand with two devices on the null backend, every worker DOWN (no process), on a fake
 * machine of two cpus. JSON replies are checked with a small strict JSON parser, so a name that
 * needs escaping cannot produce a reply a client fails to parse.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/master.h"
#include "shm/barrier.h"
#include "shm/log.h"

static struct hy_topology topo;
static struct hy_machine machine;
static struct hy_device devs[2];
static struct hy_master m;

static void add_device(unsigned i, const char *name)
{
	struct hy_topo_device *c = &topo.devices[i];
	char err[256];

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->socket, sizeof(c->socket), "/run/hydra/%s.sock", name);
	c->type = HY_BE_NULL;
	c->size = 64ull << 20;
	c->nqueues = 2;
	c->queue_size = 128;
	c->block_size = 512;
	c->writeback = true;
	c->queues[0].cpu = 0;
	c->queues[1].cpu = 1;
	cr_assert_eq(hy_device_init(&devs[i], c, i, err, sizeof(err)), 0, "%s", err);
}

static void setup(void)
{
	hy_log_init("test", NULL, HY_LOG_ERR);
	memset(&topo, 0, sizeof(topo));
	memset(&machine, 0, sizeof(machine));
	machine.ncpus = 2;
	machine.nnodes = 1;
	machine.present[0] = machine.present[1] = true;
	topo.ndevices = 2;
	add_device(0, "vda");
	add_device(1, "vdb");
	memset(&m, 0, sizeof(m));
	m.topo = &topo;
	m.machine = &machine;
	m.devs = devs;
	m.ndev = 2;
	m.epfd = m.sigfd = m.timerfd = m.status_fd = -1;
	for (unsigned i = 0; i < HY_STATUS_MAX_CLIENTS; i++)
		m.clients[i].fd = -1;
	m.started_ns = hy_now_ns();
}

static void teardown(void)
{
	for (unsigned i = 0; i < m.ndev; i++)
		hy_shm_dev_destroy(devs[i].shm);
	hy_log_set_level(HY_LOG_ERR);
}

TestSuite(status, .init = setup, .fini = teardown);

/* ---- a strict JSON checker (RFC 8259), enough to catch bad escaping ----------------------- */

static bool json_value(const char **p, int depth);

static void json_ws(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static bool json_string(const char **p)
{
	const unsigned char *s = (const unsigned char *)*p;

	if (*s++ != '"')
		return false;
	for (;;) {
		if (*s == '"')
			break;
		if (*s < 0x20)
			return false; /* raw control characters, NUL included */
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
						return false;
				s += 5;
				continue;
			}
			if (!*s || !strchr("\"\\/bfnrt", *s))
				return false;
		}
		s++;
	}
	*p = (const char *)s + 1;
	return true;
}

static bool json_number(const char **p)
{
	const char *s = *p;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.') {
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	*p = s;
	return true;
}

static bool json_members(const char **p, char close, bool keys, int depth)
{
	(*p)++;
	json_ws(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		json_ws(p);
		if (keys) {
			if (!json_string(p))
				return false;
			json_ws(p);
			if (*(*p)++ != ':')
				return false;
		}
		if (!json_value(p, depth + 1))
			return false;
		json_ws(p);
		if (**p == ',') {
			(*p)++;
			continue;
		}
		if (**p == close) {
			(*p)++;
			return true;
		}
		return false;
	}
}

static bool json_value(const char **p, int depth)
{
	if (depth > 32)
		return false;
	json_ws(p);
	switch (**p) {
	case '{':
		return json_members(p, '}', true, depth);
	case '[':
		return json_members(p, ']', false, depth);
	case '"':
		return json_string(p);
	case 't':
		return !strncmp(*p, "true", 4) && (*p += 4);
	case 'f':
		return !strncmp(*p, "false", 5) && (*p += 5);
	case 'n':
		return !strncmp(*p, "null", 4) && (*p += 4);
	default:
		return json_number(p);
	}
}

/* One JSON object on one line, ending in exactly one newline. */
static bool json_line(const char *s)
{
	const char *p = s;
	size_t len = strlen(s);

	if (len < 3 || s[0] != '{' || s[len - 1] != '\n' || memchr(s, '\n', len - 1))
		return false;
	if (!json_value(&p, 0))
		return false;
	return *p == '\n' && p[1] == '\0';
}

Test(status, json_checker_self_test)
{
	cr_assert(json_line("{\"a\": [1, -2.5e3, true, null, \"x\\\"y\\u0001\"]}\n"));
	cr_assert_not(json_line("{\"a\": \"x\"y\"}\n"));
	cr_assert_not(json_line("{\"a\": \"x\x01\"}\n"));
	cr_assert_not(json_line("{\"a\": 1,}\n"));
	cr_assert_not(json_line("{\"a\": 1}"));
	cr_assert_not(json_line("{\"a\": 1}\n\n"));
	cr_assert_not(json_line("{\"a\": 01}\n"));
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char *reply;

static const char *exec(const char *line)
{
	free(reply);
	reply = hy_status_execute(&m, line);
	cr_assert_not_null(reply, "no reply to '%s'", line);
	cr_assert_gt(strlen(reply), 0);
	cr_assert_eq(reply[strlen(reply) - 1], '\n', "reply to '%s' is not newline-terminated",
		     line);
	return reply;
}

static void assert_error(const char *line, const char *needle)
{
	exec(line);
	cr_assert(json_line(reply), "'%s': not one line of JSON: %s", line, reply);
	cr_assert(!strncmp(reply, "{\"error\": \"", 11), "'%s' should fail, got %s", line, reply);
	if (needle)
		cr_assert_not_null(strstr(reply, needle), "'%s': expected '%s' in %s", line, needle,
				   reply);
}

static void assert_ok(const char *line)
{
	exec(line);
	cr_assert_str_eq(reply, "{\"ok\": true}\n", "'%s': %s", line, reply);
}

/* ---- status, show, help ------------------------------------------------------------------ */

Test(status, status_is_json)
{
	exec("status");
	cr_assert(!strncmp(reply, "{\"version\": \"" HY_VERSION "\"", 13 + strlen(HY_VERSION)),
		  "%s", reply);
	cr_assert(json_line(reply), "not valid JSON: %s", reply);
	cr_assert_not_null(strstr(reply, "\"name\": \"vda\""));
	cr_assert_not_null(strstr(reply, "\"name\": \"vdb\""));
	cr_assert_not_null(strstr(reply, "\"socket\": \"/run/hydra/vda.sock\""));
	cr_assert_not_null(strstr(reply, "\"backend\": \"null\""));
	cr_assert_not_null(strstr(reply, "\"capacity\": 67108864"));
	cr_assert_not_null(strstr(reply, "\"worker\": \"down\""));
	cr_assert_not_null(strstr(reply, "\"index\": 1"));
	cr_assert_not_null(strstr(reply, "\"connected\": false"));
	cr_assert_not_null(strstr(reply, "\"writeback\": true"));

	/* Live values come from shared memory. */
	devs[1].shm->writeback = 0;
	devs[1].shm->q[1].stats.requests = 123456789012ull;
	exec("status");
	cr_assert(json_line(reply));
	cr_assert_not_null(strstr(reply, "\"writeback\": false"));
	cr_assert_not_null(strstr(reply, "\"requests\": 123456789012"));
	/* Whitespace around the word does not matter. */
	exec(" \tstatus\r\n");
	cr_assert(json_line(reply));
}

Test(status, status_without_devices)
{
	m.ndev = 0;
	exec("status");
	cr_assert(json_line(reply), "%s", reply);
	cr_assert_not_null(strstr(reply, "\"devices\": []"));
	exec("show");
}

Test(status, names_are_escaped)
{
	/* The topology only allows [A-Za-z0-9_-] in names, but the socket path is free text. */
	snprintf(topo.devices[0].name, sizeof(topo.devices[0].name), "we\"ird\\na\tme\x01");
	snprintf(topo.devices[1].socket, sizeof(topo.devices[1].socket),
		 "/tmp/a \"quoted\" \\ path\n\x1f.sock");
	exec("status");
	cr_assert(json_line(reply), "not valid JSON: %s", reply);
	cr_assert_not_null(strstr(reply, "\"name\": \"we\\\"ird\\\\na\\u0009me\\u0001\""), "%s",
			   reply);
	cr_assert_not_null(strstr(reply, "\\\"quoted\\\" \\\\ path\\u000a\\u001f.sock"), "%s",
			   reply);
	/* And so are error messages that quote a name. */
	assert_error("pin vdb 7 0", "vdb");
}

Test(status, show_is_a_table)
{
	exec("show");
	cr_assert(!strncmp(reply, "hydra " HY_VERSION, 6 + strlen(HY_VERSION)), "%s", reply);
	cr_assert_not_null(strstr(reply, "\nvda  null backend, 64 MiB, read-write, no frontend"),
			   "%s", reply);
	cr_assert_not_null(strstr(reply, "\nvdb "));
	cr_assert_not_null(strstr(reply, "queue"));
	cr_assert_not_null(strstr(reply, "down"));
	cr_assert(strlen(reply) >= 2 && !strcmp(reply + strlen(reply) - 2, "\n\n"),
		  "a table ends with a blank line");
}

Test(status, help)
{
	exec("help");
	cr_assert(json_line(reply), "%s", reply);
	cr_assert_not_null(strstr(reply, "\"pin DEVICE QUEUE CPU\""));
	cr_assert_not_null(strstr(reply, "log-level"));
}

/* ---- pin --------------------------------------------------------------------------------- */

Test(status, pin_moves_a_down_worker)
{
	cr_assert_eq(devs[0].w[1].cpu, 1);
	assert_ok("pin vda 1 0");
	cr_assert_eq(devs[0].w[1].cpu, 0);
	cr_assert_eq(devs[0].w[1].numa, 0);
	cr_assert_eq(topo.devices[0].queues[1].cpu, 0, "the plan follows");
	cr_assert_eq(hy_load_relaxed(&devs[0].shm->q[1].cpu_target), 0);
	cr_assert_eq(devs[1].w[1].cpu, 1, "the other device is untouched");
	assert_ok("pin vdb 0 1");
	cr_assert_eq(devs[1].w[0].cpu, 1);
	assert_ok("pin\tvdb  0\t 0\n");
	cr_assert_eq(devs[1].w[0].cpu, 0);
	assert_ok("pin vda 0 0001");
	cr_assert_eq(devs[0].w[0].cpu, 1);
}

Test(status, pin_errors)
{
	assert_error("pin", "usage: pin DEVICE QUEUE CPU");
	assert_error("pin vda", "usage");
	assert_error("pin vda 0", "usage");
	assert_error("pin vda 0 1 2", "usage");
	assert_error("pin vdc 0 1", "no such device");
	assert_error("pin VDA 0 1", "no such device");
	assert_error("pin vd 0 1", "no such device");

	/* Queues. */
	assert_error("pin vda 2 0", "queues 0-1");
	assert_error("pin vda 63 0", "queues 0-1");
	assert_error("pin vda 64 0", "QUEUE");
	assert_error("pin vda -1 0", "QUEUE");
	assert_error("pin vda +1 0", "QUEUE");
	assert_error("pin vda x 0", "QUEUE");
	assert_error("pin vda 1x 0", "QUEUE");
	assert_error("pin vda 0x1 0", "QUEUE");
	assert_error("pin vda 1.0 0", "QUEUE");
	assert_error("pin vda 99999999999999999999999 0", "QUEUE");

	/* Cpus. */
	assert_error("pin vda 0 2", "cpu 2 does not exist on this machine (cpus 0-1)");
	assert_error("pin vda 0 1023", "does not exist");
	assert_error("pin vda 0 1024", "CPU");
	assert_error("pin vda 0 -1", "CPU");
	assert_error("pin vda 0 -0", "CPU");
	assert_error("pin vda 0 +1", "CPU");
	assert_error("pin vda 0 one", "CPU");
	assert_error("pin vda 0 1abc", "CPU");
	assert_error("pin vda 0 1,", "CPU");
	assert_error("pin vda 0 4294967297", "CPU");
	assert_error("pin vda 0 99999999999999999999999", "CPU");

	/* Nothing moved. */
	for (unsigned d = 0; d < 2; d++)
		for (unsigned q = 0; q < 2; q++)
			cr_assert_eq(devs[d].w[q].cpu, (int)q, "device %u queue %u moved", d, q);
}

/* Only ' ', '\t', '\r' and '\n' separate words; other white space is part of a word. */
Test(status, pin_numbers_are_plain_digits)
{
	assert_error("pin vda 0 \v1", "CPU");
	assert_error("pin vda 0 \f1", "CPU");
	assert_error("pin vda \v1 0", "QUEUE");
	cr_assert_eq(devs[0].w[0].cpu, 0);
	cr_assert_eq(devs[0].w[1].cpu, 1);
}

/* ---- log-level --------------------------------------------------------------------------- */

Test(status, log_level)
{
	assert_ok("log-level debug");
	cr_assert_eq(hy_log_get_level(), HY_LOG_DEBUG);
	assert_ok("log-level WARN");
	cr_assert_eq(hy_log_get_level(), HY_LOG_WARN);
	assert_ok("log-level error");
	cr_assert_eq(hy_log_get_level(), HY_LOG_ERR);
	assert_error("log-level", "usage: log-level");
	assert_error("log-level verbose", "usage");
	assert_error("log-level 3", "usage");
	assert_error("log-level info debug", "usage");
	assert_error("log-level debugx", "usage");
	cr_assert_eq(hy_log_get_level(), HY_LOG_ERR, "failed commands change nothing");
}

/* ---- the command line itself ------------------------------------------------------------- */

Test(status, empty_and_unknown)
{
	assert_error("", "empty command");
	assert_error("   ", "empty command");
	assert_error("\t\r\n", "empty command");
	assert_error("foo", "unknown command");
	assert_error("STATUS", "unknown command");
	assert_error("status now", "unknown command");
	assert_error("help me", "unknown command");
	assert_error("show all", "unknown command");
	assert_error("\"status\"", "unknown command");
}

Test(status, word_count)
{
	assert_error("a b c d e f g h i", "too many words");
	assert_error("pin vda 0 1 x x x x x", "too many words");
	assert_error("a b c d e f g h i j k l m n o p q r s t u v w x y z", "too many words");
	/* Eight words are words; the command is what is wrong. */
	assert_error("a b c d e f g h", "unknown command");
	assert_error("pin vda 0 1 x x x x", "usage");
}

Test(status, long_lines)
{
	static char line[8192];

	memset(line, 'a', sizeof(line) - 1);
	assert_error(line, NULL);
	memset(line, ' ', sizeof(line) - 1);
	exec(line);
	cr_assert(!strncmp(reply, "{\"error\": ", 10), "%s", reply);
	for (size_t i = 0; i + 2 < sizeof(line); i += 2) {
		line[i] = 'w';
		line[i + 1] = ' ';
	}
	assert_error(line, NULL);
}

/*
 * The protocol allows lines of 1023 bytes at most (see the top of status.c). A longer line handed
 * to hy_status_execute() must be refused, not cut at byte 1023 and run: the cut can change what
 * the command means. Here "pin vda 1 12" (cpu 12 does not exist) is padded so that the cut falls
 * between the '1' and the '2', which turns it into "pin vda 1 1", a valid pin.
 */
Test(status, overlong_line_is_refused_not_truncated)
{
	static char line[2048];
	size_t n;

	memset(line, 0, sizeof(line));
	strcpy(line, "pin vda 1 0");
	assert_ok(line); /* a known starting point: queue 1 on cpu 0 */
	strcpy(line, "pin vda 1");
	n = strlen(line);
	memset(line + n, ' ', 1022 - n);
	line[1022] = '1';
	line[1023] = '2';
	line[1024] = '\0';
	exec(line);
	cr_assert(!strncmp(reply, "{\"error\": ", 10),
		  "a 1024-byte line was cut to 1023 bytes and run: %s", reply);
	cr_assert_eq(devs[0].w[1].cpu, 0, "queue 1 moved to cpu %d", devs[0].w[1].cpu);
}
