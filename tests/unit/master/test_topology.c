/* SPDX-License-Identifier: MIT */
/*
 * master/topology.c: the schema, its defaults, path resolution and every validation error,
 * checked on fake machines so that the results do not depend on where the tests run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master/topology.h"

static struct hy_topology topo; /* ~140 KiB: not on the stack */
static char err[1024];

/* 2 cpus on one node: the machine the shipped topology.yaml is written for. */
static struct hy_machine m2;
/* 4 cpus on two nodes: 0-1 on node 0, 2-3 on node 1. */
static struct hy_machine m4;
/* cpus 0-1,4,6-7 present, 2, 3 and 5 missing (offline or outside our affinity). */
static struct hy_machine mholes;

static void machines(void)
{
	memset(&m2, 0, sizeof(m2));
	m2.ncpus = 2;
	m2.nnodes = 1;
	m2.present[0] = m2.present[1] = true;

	memset(&m4, 0, sizeof(m4));
	m4.ncpus = 4;
	m4.nnodes = 2;
	for (int i = 0; i < 4; i++) {
		m4.present[i] = true;
		m4.node[i] = i / 2;
	}

	memset(&mholes, 0, sizeof(mholes));
	mholes.ncpus = 8;
	mholes.nnodes = 1;
	mholes.present[0] = mholes.present[1] = mholes.present[4] = true;
	mholes.present[6] = mholes.present[7] = true;
}

TestSuite(topology, .init = machines);

static int parse_on(const char *yaml, const struct hy_machine *m)
{
	memset(err, 0, sizeof(err));
	return hy_topology_parse(yaml, strlen(yaml), "t.yaml", "/base", m, &topo, err, sizeof(err));
}

static int parse(const char *yaml)
{
	return parse_on(yaml, &m2);
}

/*
 * Expect -EINVAL and a message that starts with @where ("t.yaml:7:16: "), names @key and says
 * @what (and @what2, when given).
 */
static void expect_err_on(const struct hy_machine *m, const char *yaml, const char *where,
			  const char *key, const char *what, const char *what2)
{
	int ret = parse_on(yaml, m);

	if (getenv("SHOW"))
		fprintf(stderr, "%s\n", err);

	cr_assert_eq(ret, -EINVAL, "returned %d for:\n%s", ret, yaml);
	cr_assert(!strncmp(err, where, strlen(where)), "message does not start with '%s': %s",
		  where, err);
	cr_assert(strstr(err, key), "message does not name '%s': %s", key, err);
	cr_assert(strstr(err, what), "message does not say '%s': %s", what, err);
	if (what2)
		cr_assert(strstr(err, what2), "message does not say '%s': %s", what2, err);
	cr_assert(strstr(err, "expected"), "message does not say what was expected: %s", err);
}

#define expect_err(yaml, where, key, what)	   expect_err_on(&m2, yaml, where, key, what, NULL)
#define expect_err2(yaml, where, key, what, what2) expect_err_on(&m2, yaml, where, key, what, what2)

#define HYDRA "hydra:\n  socket_dir: /run/hydra\n"
/* Lines 1-2 are HYDRA; the device starts at line 4, its name key at column 5. */
#define DEV_START HYDRA "devices:\n  - name: vda\n"
#define RAM	  "    backend: { type: ram, size: 1GiB }\n"
#define Q0	  "    queues:\n      - { cpu: 0 }\n"

/* The minimal valid file, and the same with one line replaced, for the error tests. */
#define MINIMAL DEV_START RAM Q0

/* ---- valid files ---------------------------------------------------------------------------- */

Test(topology, full_example)
{
	const char *yaml =
		"hydra:\n"
		"  socket_dir: /run/hydra\n"
		"  status_socket: /run/hydra/ctl.sock\n"
		"  log_level: debug\n"
		"devices:\n"
		"  - name: vda\n"
		"    backend: { type: uring, path: /var/lib/hydra/vda.img, size: 1GiB }\n"
		"    block_size: 4096\n"
		"    read_only: true\n"
		"    writeback: false\n"
		"    discard: false\n"
		"    write_zeroes: false\n"
		"    queue_size: 1024\n"
		"    idle_us: 0\n"
		"    serial: \"hydra-disk-0001\"\n"
		"    socket: /tmp/vda.sock\n"
		"    queues:\n"
		"      - { cpu: 0 }\n"
		"      - { cpu: 1, numa: 0 }\n"
		"  - name: null0\n"
		"    backend:\n"
		"      type: null\n"
		"      size: 8G\n"
		"    queues: [ { cpu: 1 } ]\n";
	const struct hy_topo_device *d;

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_str_eq(topo.socket_dir, "/run/hydra");
	cr_assert_str_eq(topo.status_socket, "/run/hydra/ctl.sock");
	cr_assert_eq(topo.log_level, 3);
	cr_assert_eq(topo.ndevices, 2);

	d = &topo.devices[0];
	cr_assert_str_eq(d->name, "vda");
	cr_assert_str_eq(d->socket, "/tmp/vda.sock");
	cr_assert_eq(d->type, HY_BE_URING);
	cr_assert_str_eq(d->path, "/var/lib/hydra/vda.img");
	cr_assert_eq(d->size, 1ull << 30);
	cr_assert_eq(d->block_size, 4096);
	cr_assert(d->read_only);
	cr_assert_not(d->writeback);
	cr_assert_not(d->discard);
	cr_assert_not(d->write_zeroes);
	cr_assert_eq(d->queue_size, 1024);
	cr_assert_eq(d->idle_us, 0);
	cr_assert_str_eq(d->serial, "hydra-disk-0001");
	cr_assert_eq(d->nqueues, 2);
	cr_assert_eq(d->queues[0].cpu, 0);
	cr_assert_eq(d->queues[0].numa, 0);
	cr_assert_eq(d->queues[1].cpu, 1);
	cr_assert_eq(d->queues[1].numa, 0);
	cr_assert_eq(d->line, 6);

	d = &topo.devices[1];
	cr_assert_str_eq(d->name, "null0");
	cr_assert_eq(d->type, HY_BE_NULL);
	cr_assert_eq(d->size, 8ull << 30);
	cr_assert_str_eq(d->socket, "/run/hydra/null0.sock");
	cr_assert_eq(d->nqueues, 1);
	cr_assert_eq(d->queues[0].cpu, 1);
	cr_assert_eq(d->line, 20);
}

Test(topology, defaults)
{
	const struct hy_topo_device *d = &topo.devices[0];

	cr_assert_eq(parse(MINIMAL), 0, "%s", err);
	cr_assert_str_eq(topo.status_socket, "/run/hydra/status.sock");
	cr_assert_eq(topo.log_level, 2); /* info */
	cr_assert_eq(topo.ndevices, 1);
	cr_assert_str_eq(d->socket, "/run/hydra/vda.sock");
	cr_assert_eq(d->type, HY_BE_RAM);
	cr_assert_eq(d->block_size, 512);
	cr_assert_not(d->read_only);
	cr_assert(d->writeback);
	cr_assert(d->discard);
	cr_assert(d->write_zeroes);
	cr_assert_eq(d->queue_size, 256);
	cr_assert_eq(d->idle_us, 1000);
	cr_assert_str_eq(d->serial, "hydra-vda");
	cr_assert_eq(d->nqueues, 1);
	cr_assert_eq(d->line, 4);
	cr_assert_str_eq(err, "");
}

Test(topology, uring_without_size_and_other_spellings)
{
	const char *yaml = DEV_START "    backend: { type: uring, path: disk.img }\n"
				     "    read_only: yes\n"
				     "    writeback: Off\n"
				     "    serial: \"\"\n"
				     "    queue_size: \"64\"\n" Q0;
	const struct hy_topo_device *d = &topo.devices[0];

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_eq(d->size, 0);
	cr_assert(d->read_only);
	cr_assert_not(d->writeback);
	cr_assert_str_eq(d->serial, "");
	cr_assert_eq(d->queue_size, 64);
}

Test(topology, long_name_gives_a_20_byte_serial)
{
	const char *yaml = HYDRA "devices:\n  - name: abcdefghijklmnopqrstuvwxyz01234\n" RAM Q0;

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_str_eq(topo.devices[0].serial, "hydra-abcdefghijklmn");
	cr_assert_eq(strlen(topo.devices[0].serial), 20);
}

Test(topology, numa_resolved_from_the_machine)
{
	const char *yaml = DEV_START RAM "    queues:\n"
					 "      - { cpu: 3 }\n"
					 "      - { cpu: 1 }\n"
					 "      - { cpu: 2, numa: 1 }\n";

	cr_assert_eq(parse_on(yaml, &m4), 0, "%s", err);
	cr_assert_eq(topo.devices[0].nqueues, 3);
	cr_assert_eq(topo.devices[0].queues[0].numa, 1);
	cr_assert_eq(topo.devices[0].queues[1].numa, 0);
	cr_assert_eq(topo.devices[0].queues[2].numa, 1);
}

Test(topology, relative_paths_resolve_against_basedir)
{
	const char *yaml = "hydra:\n"
			   "  socket_dir: ./run//sockets/\n"
			   "  status_socket: st/s.sock\n"
			   "devices:\n"
			   "  - name: a\n"
			   "    backend: { type: uring, path: var/a.img }\n"
			   "    queues: [ { cpu: 0 } ]\n"
			   "  - name: b\n"
			   "    socket: x/../b.sock\n"
			   "    backend: { type: uring, path: /abs/b.img }\n"
			   "    queues: [ { cpu: 0 } ]\n"
			   "  - name: c\n"
			   "    socket: /abs/./c.sock\n"
			   "    backend: { type: uring, path: ../c.img }\n"
			   "    queues: [ { cpu: 0 } ]\n";

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_str_eq(topo.socket_dir, "/base/run/sockets");
	cr_assert_str_eq(topo.status_socket, "/base/st/s.sock");
	cr_assert_str_eq(topo.devices[0].socket, "/base/run/sockets/a.sock");
	cr_assert_str_eq(topo.devices[0].path, "/base/var/a.img");
	cr_assert_str_eq(topo.devices[1].socket, "/base/x/../b.sock");
	cr_assert_str_eq(topo.devices[1].path, "/abs/b.img");
	cr_assert_str_eq(topo.devices[2].socket, "/abs/c.sock");
	cr_assert_str_eq(topo.devices[2].path, "/base/../c.img");
}

Test(topology, status_socket_default_follows_relative_socket_dir)
{
	const char *yaml = "hydra: { socket_dir: run }\ndevices:\n  - name: vda\n" RAM Q0;

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_str_eq(topo.socket_dir, "/base/run");
	cr_assert_str_eq(topo.status_socket, "/base/run/status.sock");
	cr_assert_str_eq(topo.devices[0].socket, "/base/run/vda.sock");
}

Test(topology, hydra_section_may_come_last)
{
	const char *yaml = "devices:\n  - name: vda\n" RAM Q0 "hydra:\n  socket_dir: /s\n";

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_str_eq(topo.devices[0].socket, "/s/vda.sock");
}

Test(topology, anchors_and_aliases)
{
	const char *yaml = HYDRA "devices:\n"
				 "  - name: a\n"
				 "    backend: &be { type: ram, size: 1M }\n"
				 "    queues: &q [ { cpu: 0 }, { cpu: 1 } ]\n"
				 "  - name: b\n"
				 "    backend: *be\n"
				 "    queues: *q\n";

	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_eq(topo.ndevices, 2);
	cr_assert_eq(topo.devices[1].size, 1 << 20);
	cr_assert_eq(topo.devices[1].nqueues, 2);
}

/* The topology.yaml shipped at the root of the checkout parses on a 2-cpu machine. */
Test(topology, shipped_topology_yaml)
{
	char src[PATH_MAX], file[PATH_MAX], root[PATH_MAX];
	size_t l;

	snprintf(src, sizeof(src), "%s", __FILE__);
	snprintf(file, sizeof(file), "%s/../../../topology.yaml", dirname(src));
	cr_assert_not_null(realpath(file, root), "cannot find %s", file);
	cr_assert_eq(hy_topology_load(file, &m2, &topo, err, sizeof(err)), 0, "%s", err);
	*strrchr(root, '/') = '\0';

	cr_assert_eq(topo.ndevices, 1);
	cr_assert_str_eq(topo.devices[0].name, "vda");
	cr_assert_eq(topo.devices[0].type, HY_BE_URING);
	cr_assert_eq(topo.devices[0].size, 1ull << 30);
	cr_assert_eq(topo.devices[0].nqueues, 2);
	cr_assert_eq(topo.devices[0].queues[0].cpu, 0);
	cr_assert_eq(topo.devices[0].queues[1].cpu, 1);
	l = strlen(root);
	cr_assert(!strncmp(topo.socket_dir, root, l) && !strcmp(topo.socket_dir + l, "/run"),
		  "socket_dir %s", topo.socket_dir);
	cr_assert(!strncmp(topo.devices[0].path, root, l) &&
			  !strcmp(topo.devices[0].path + l, "/var/vda.img"),
		  "path %s", topo.devices[0].path);
	cr_assert(!strcmp(topo.devices[0].socket + l, "/run/vda.sock"), "socket %s",
		  topo.devices[0].socket);
}

/* hy_topology_load() resolves against the real folder of the file, through symbolic links. */
Test(topology, load_resolves_against_the_files_folder)
{
	char tmpl[] = "/tmp/hy-topo-XXXXXX", real[PATH_MAX], path[PATH_MAX + 32],
	     link[PATH_MAX + 32], want[PATH_MAX + 64];
	const char *yaml = "hydra: { socket_dir: run }\n"
			   "devices:\n"
			   "  - name: vda\n"
			   "    backend: { type: uring, path: var/vda.img, size: 1GiB }\n" Q0;
	char *dir = mkdtemp(tmpl);
	FILE *f;

	cr_assert_not_null(dir);
	cr_assert_not_null(realpath(dir, real));
	snprintf(path, sizeof(path), "%s/conf", real);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/conf/t.yaml", real);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(yaml, f);
	fclose(f);
	snprintf(link, sizeof(link), "%s/link.yaml", real);
	cr_assert_eq(symlink(path, link), 0);

	cr_assert_eq(hy_topology_load(link, &m2, &topo, err, sizeof(err)), 0, "%s", err);
	snprintf(want, sizeof(want), "%s/conf/run/vda.sock", real);
	cr_assert_str_eq(topo.devices[0].socket, want);
	snprintf(want, sizeof(want), "%s/conf/var/vda.img", real);
	cr_assert_str_eq(topo.devices[0].path, want);

	/* Messages name the file as the operator wrote it. */
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("hydra: { socket_dir: run }\ndevices: []\n", f);
	fclose(f);
	cr_assert_eq(hy_topology_load(link, &m2, &topo, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2:10: devices: ", link);
	cr_assert(!strncmp(err, want, strlen(want)), "%s", err);

	unlink(link);
	unlink(path);
	snprintf(path, sizeof(path), "%s/conf", real);
	rmdir(path);
	rmdir(real);
}

Test(topology, load_missing_file)
{
	cr_assert_eq(hy_topology_load("/nonexistent/t.yaml", &m2, &topo, err, sizeof(err)),
		     -ENOENT);
	cr_assert(strstr(err, "/nonexistent/t.yaml"), "%s", err);
	cr_assert(strstr(err, "No such file"), "%s", err);
	cr_assert_eq(hy_topology_load("/", &m2, &topo, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "not a regular file"), "%s", err);
}

/* ---- YAML itself ---------------------------------------------------------------------------- */

Test(topology, yaml_syntax_error)
{
	/* The flow mapping on line 5 is never closed. */
	expect_err2(DEV_START "    backend: { type: ram, size: 1GiB\n" Q0,
		    "t.yaml:6:11: ", "yaml: ", "while parsing a flow mapping at line 5, column 14",
		    "valid YAML");
}

Test(topology, yaml_bad_indentation)
{
	/* "backend" is indented 3 spaces, under neither "- name" (2) nor "name:" (4). */
	expect_err(
		HYDRA "devices:\n  - name: vda\n   backend: x\n", "t.yaml:5:4: ", "yaml: ",
		"did not find expected '-' indicator (while parsing a block collection at line 4, column 3)");
}

Test(topology, yaml_tab_indentation)
{
	expect_err2(HYDRA "devices:\n\t- name: vda\n",
		    "t.yaml:4:1: ", "yaml: ", "found character that cannot start any token",
		    "expected spaces, not tabs");
}

Test(topology, yaml_not_utf8)
{
	expect_err(HYDRA "devices:\n  - name: v\xff\n",
		   "t.yaml:4:12: ", "yaml: ", "invalid leading UTF-8 octet (0xff)");
}

Test(topology, yaml_undefined_alias)
{
	expect_err(DEV_START "    backend: *nope\n",
		   "t.yaml:5:14: ", "yaml: ", "found undefined alias");
}

Test(topology, empty_file)
{
	expect_err("", "t.yaml: ", "(document)", "the file is empty");
	expect_err("# only a comment\n", "t.yaml: ", "(document)", "the file is empty");
}

Test(topology, second_document)
{
	expect_err(MINIMAL "---\nhydra: {}\n", "t.yaml:8:1: ", "(document)",
		   "a second YAML document starts here");
}

/* ---- schema: kinds, keys ------------------------------------------------------------------ */

Test(topology, root_is_not_a_mapping)
{
	expect_err("- a\n- b\n", "t.yaml:1:1: ", "(top level)", "got a list");
	expect_err("hello\n", "t.yaml:1:1: ", "(top level)", "got a single value");
}

Test(topology, unknown_top_level_key)
{
	expect_err2(HYDRA "device:\n  - name: vda\n", "t.yaml:3:1: ", "device: unknown key",
		    "did you mean 'devices'?", "expected one of hydra, devices");
}

Test(topology, unknown_hydra_key)
{
	expect_err2(HYDRA "  loglevel: info\ndevices: []\n",
		    "t.yaml:3:3: ", "hydra.loglevel:", "did you mean 'log_level'?",
		    "expected one of socket_dir, status_socket, log_level");
}

Test(topology, unknown_device_key)
{
	expect_err2(
		DEV_START RAM "    blocksize: 4096\n" Q0,
		"t.yaml:6:5: ", "devices[0].blocksize: unknown key (did you mean 'block_size'?)",
		"expected one of name, backend, block_size, read_only, writeback, discard, write_zeroes, queue_size, idle_us, serial, socket, queues",
		NULL);
}

Test(topology, misplaced_keys_say_where_they_belong)
{
	expect_err(DEV_START "    size: 1G\n", "t.yaml:5:5: ", "devices[0].size: unknown key",
		   "'size' belongs in a device's 'backend:' mapping");
	expect_err(DEV_START "    cpu: 1\n", "t.yaml:5:5: ", "devices[0].cpu: unknown key",
		   "'cpu' belongs in a queue");
	expect_err("socket_dir: /x\n", "t.yaml:1:1: ", "socket_dir: unknown key",
		   "belongs in the 'hydra:' section");
}

Test(topology, unknown_backend_and_queue_keys)
{
	expect_err(DEV_START "    backend: { type: ram, size: 1G, sparse: true }\n",
		   "t.yaml:5:37: ", "devices[0].backend.sparse: unknown key",
		   "expected one of type, path, size");
	expect_err(DEV_START RAM "    queues:\n      - { cpu: 0, node: 0 }\n",
		   "t.yaml:7:19: ", "devices[0].queues[0].node: unknown key",
		   "expected one of cpu, numa");
}

Test(topology, non_scalar_key)
{
	expect_err(DEV_START "    [a]: 1\n", "t.yaml:5:5: ", "devices[0]: a key is a list",
		   "plain key");
}

Test(topology, wrong_kinds)
{
	expect_err("hydra: [ /run ]\ndevices: []\n", "t.yaml:1:8: ", "hydra: got a list",
		   "expected a mapping with socket_dir");
	expect_err("hydra:\ndevices: []\n", "t.yaml:1:7: ", "hydra: got no value",
		   "expected a mapping");
	expect_err(HYDRA "devices:\n  name: vda\n", "t.yaml:4:3: ", "devices: got a mapping",
		   "expected a list of 1 to 32 devices");
	expect_err(HYDRA "devices:\n  - vda\n", "t.yaml:4:5: ", "devices[0]: got a single value",
		   "expected a mapping such as 'name: vda'");
	expect_err(DEV_START "    backend: uring\n",
		   "t.yaml:5:14: ", "devices[0].backend: got a single value", "{ type: uring");
	expect_err(DEV_START RAM "    queues: 2\n",
		   "t.yaml:6:13: ", "devices[0].queues: got a single value",
		   "expected a list of 1 to 64 queues");
	expect_err(DEV_START RAM "    queues: [ 0, 1 ]\n",
		   "t.yaml:6:15: ", "devices[0].queues[0]: got a single value", "{ cpu: 0 }");
	expect_err(HYDRA "devices:\n  - name: [vda]\n",
		   "t.yaml:4:11: ", "devices[0].name: got a list", "expected 1 to 31 characters");
	expect_err(DEV_START "    backend: { type: ram, size: { a: 1 } }\n",
		   "t.yaml:5:33: ", "devices[0].backend.size: got a mapping",
		   "expected a positive size");
	expect_err(DEV_START RAM "    read_only: [ true ]\n" Q0,
		   "t.yaml:6:16: ", "devices[0].read_only: got a list", "expected true or false");
}

Test(topology, duplicate_keys)
{
	expect_err(DEV_START "    name: vdb\n", "t.yaml:5:5: ", "devices[0].name: duplicate key",
		   "first given at line 4, column 5");
	expect_err(MINIMAL "hydra: {}\n", "t.yaml:8:1: ", "hydra: duplicate key",
		   "first given at line 1, column 1");
	expect_err(DEV_START "    backend: { type: ram, size: 1G, size: 2G }\n",
		   "t.yaml:5:37: ", "devices[0].backend.size: duplicate key",
		   "expected each key at most once");
}

Test(topology, missing_required_keys)
{
	expect_err("devices: []\n", "t.yaml:1:1: ", "hydra: required key is missing", "socket_dir");
	expect_err(HYDRA, "t.yaml:1:1: ", "devices: required key is missing", "1 to 32 devices");
	expect_err("hydra: { log_level: info }\ndevices: []\n",
		   "t.yaml:1:8: ", "hydra.socket_dir: required key is missing", "folder");
	expect_err(HYDRA "devices:\n  - backend: { type: ram, size: 1G }\n",
		   "t.yaml:4:5: ", "devices[0].name: required key is missing", "device name");
	expect_err(DEV_START Q0, "t.yaml:4:5: ", "devices[0].backend: required key is missing",
		   "type: uring");
	expect_err(DEV_START "    backend: { size: 1G }\n",
		   "t.yaml:5:14: ", "devices[0].backend.type: required key is missing",
		   "uring, ram, null or nvme");
	expect_err(DEV_START "    backend: { type: uring }\n",
		   "t.yaml:5:14: ", "devices[0].backend.path: required key is missing",
		   "file or block device");
	expect_err(DEV_START "    backend: { type: ram }\n",
		   "t.yaml:5:14: ", "devices[0].backend.size: required key is missing",
		   "required for ram and null");
	expect_err(DEV_START "    backend: { type: null }\n",
		   "t.yaml:5:14: ", "devices[0].backend.size: required key is missing",
		   "required for ram and null");
	expect_err(DEV_START RAM, "t.yaml:4:5: ", "devices[0].queues: required key is missing",
		   "1 to 64 queues");
	expect_err(DEV_START RAM "    queues: [ { numa: 0 } ]\n",
		   "t.yaml:6:15: ", "devices[0].queues[0].cpu: required key is missing", "cpu");
}

/* ---- values ------------------------------------------------------------------------------- */

Test(topology, bad_booleans)
{
	expect_err(DEV_START RAM "    read_only: maybe\n" Q0, "t.yaml:6:16: ",
		   "devices[0].read_only:", "'maybe' is not a boolean; expected true or false");
	expect_err(DEV_START RAM "    discard: 1\n" Q0,
		   "t.yaml:6:14: ", "devices[0].discard:", "'1' is not a boolean");
	expect_err(DEV_START RAM "    write_zeroes: truex\n" Q0,
		   "t.yaml:6:19: ", "devices[0].write_zeroes:", "'truex' is not a boolean");
	expect_err(DEV_START RAM "    writeback:\n" Q0, "t.yaml:6:15: ", "devices[0].writeback:",
		   "got no value; expected true or false");
}

Test(topology, bad_integers)
{
	expect_err(DEV_START RAM "    block_size: 512x\n" Q0, "t.yaml:6:17: ",
		   "devices[0].block_size:", "'512x' is not a whole number; expected 512, 1024");
	expect_err(DEV_START RAM "    block_size: -512\n" Q0,
		   "t.yaml:6:17: ", "devices[0].block_size:", "'-512' is negative");
	expect_err(DEV_START RAM "    block_size: 1000\n" Q0,
		   "t.yaml:6:17: ", "devices[0].block_size:", "1000 is not a power of two");
	expect_err(DEV_START RAM "    block_size: 8192\n" Q0,
		   "t.yaml:6:17: ", "devices[0].block_size:", "8192 is out of range");
	expect_err(DEV_START RAM "    block_size: 256\n" Q0,
		   "t.yaml:6:17: ", "devices[0].block_size:", "256 is out of range");
	expect_err(DEV_START RAM "    queue_size: 99999999999999999999999\n" Q0, "t.yaml:6:17: ",
		   "devices[0].queue_size:", "99999999999999999999999 is out of range");
	expect_err(DEV_START RAM "    queue_size: 65536\n" Q0,
		   "t.yaml:6:17: ", "devices[0].queue_size:",
		   "65536 is out of range; expected a power of two from 2 to 32768");
	expect_err(DEV_START RAM "    queue_size: 1\n" Q0,
		   "t.yaml:6:17: ", "devices[0].queue_size:", "1 is out of range");
	expect_err(DEV_START RAM "    queue_size: 384\n" Q0,
		   "t.yaml:6:17: ", "devices[0].queue_size:", "384 is not a power of two");
	expect_err(DEV_START RAM "    queue_size: 0x100\n" Q0,
		   "t.yaml:6:17: ", "devices[0].queue_size:", "'0x100' is not a whole number");
	expect_err(DEV_START RAM "    idle_us: 10000001\n" Q0,
		   "t.yaml:6:14: ", "devices[0].idle_us:",
		   "10000001 is out of range; expected microseconds from 0 to 10000000");
	expect_err(DEV_START RAM "    idle_us: -1\n" Q0,
		   "t.yaml:6:14: ", "devices[0].idle_us:", "'-1' is negative");
	expect_err(DEV_START RAM "    idle_us: 1.5\n" Q0,
		   "t.yaml:6:14: ", "devices[0].idle_us:", "'1.5' is not a whole number");
	expect_err(DEV_START RAM "    queues: [ { cpu: -1 } ]\n",
		   "t.yaml:6:22: ", "devices[0].queues[0].cpu:", "'-1' is negative");
	expect_err(DEV_START RAM "    queues: [ { cpu: 0, numa: x } ]\n",
		   "t.yaml:6:31: ", "devices[0].queues[0].numa:", "'x' is not a whole number");
}

Test(topology, bad_sizes)
{
	expect_err(DEV_START "    backend: { type: ram, size: 1GB }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.size:", "'1GB' uses a decimal unit");
	expect_err(DEV_START "    backend: { type: ram, size: 1.5GiB }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.size:", "'1.5GiB' is not a whole number");
	expect_err(DEV_START "    backend: { type: ram, size: -1 }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.size:", "'-1' is negative");
	expect_err(DEV_START "    backend: { type: ram, size: 1 GiB }\n" Q0, "t.yaml:5:33: ",
		   "devices[0].backend.size:", "'1 GiB' has a space before the unit");
	expect_err(DEV_START "    backend: { type: ram, size: 1Gi }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.size:", "'1Gi' has an unknown unit");
	expect_err(DEV_START "    backend: { type: ram, size: 99999999999T }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.size:", "does not fit in 64 bits");
	expect_err(DEV_START "    backend: { type: ram, size: big }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.size:", "'big' is not a size");
	expect_err(DEV_START "    backend: { type: ram, size: 0 }\n" Q0, "t.yaml:5:33: ",
		   "devices[0].backend.size:", "0 bytes; expected a positive size");
	expect_err(DEV_START "    backend: { type: uring, path: a, size: 0 }\n" Q0, "t.yaml:5:44: ",
		   "devices[0].backend.size:", "leave size out to use the whole file");
	expect_err(
		DEV_START "    backend: { type: ram, size: 1000 }\n" Q0,
		"t.yaml:5:33: ", "devices[0].backend.size:",
		"1000 bytes is not a multiple of block_size 512; expected a multiple such as 512 or 1024");
	expect_err(DEV_START "    block_size: 4096\n    backend: { type: ram, size: 1K }\n" Q0,
		   "t.yaml:6:33: ", "devices[0].backend.size:",
		   "1024 bytes is smaller than block_size 4096");
}

Test(topology, backend_type)
{
	expect_err(
		DEV_START "    backend: { type: spdk }\n" Q0,
		"t.yaml:5:22: ", "devices[0].backend.type: ",
		"backend type 'spdk' is not supported by this build (expected uring, ram, null or nvme)");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:01:00.0, path: /dev/x }\n" Q0,
		   "t.yaml:5:47: ", "devices[0].backend.path: ",
		   "backend type 'nvme' has no path; expected pci:");
	expect_err(DEV_START "    backend: { type: ram, path: /x, size: 1G }\n" Q0,
		   "t.yaml:5:27: ", "devices[0].backend.path: ",
		   "backend type 'ram' has no path; expected type and size");
}

Test(topology, device_names)
{
	expect_err(
		HYDRA "devices:\n  - name: vd a\n" RAM Q0, "t.yaml:4:11: ", "devices[0].name: ",
		"'vd a' is not a valid device name; expected 1 to 31 characters from A-Z, a-z, 0-9, '_' and '-'");
	expect_err(HYDRA "devices:\n  - name: vda.1\n" RAM Q0,
		   "t.yaml:4:11: ", "devices[0].name: ", "'vda.1' is not a valid device name");
	expect_err(HYDRA "devices:\n  - name: \"\"\n" RAM Q0,
		   "t.yaml:4:11: ", "devices[0].name: ", "'' is not a valid device name");
	expect_err(HYDRA "devices:\n  - name: abcdefghijklmnopqrstuvwxyz012345\n" RAM Q0,
		   "t.yaml:4:11: ", "devices[0].name: ", "is not a valid device name");
	expect_err(HYDRA "devices:\n  - name: \"v\\0a\"\n" RAM Q0,
		   "t.yaml:4:11: ", "devices[0].name: ", "contains a NUL character");
	expect_err(MINIMAL "  - name: vda\n" RAM Q0, "t.yaml:8:11: ", "devices[1].name: ",
		   "'vda' is already the name of the device at line 4; expected a unique name");
}

Test(topology, serial)
{
	expect_err(DEV_START RAM "    serial: abcdefghijklmnopqrstu\n" Q0, "t.yaml:6:13: ",
		   "devices[0].serial: ", "is 21 bytes long; expected at most 20 printable ASCII");
	expect_err(DEV_START RAM "    serial: \"a\\tb\"\n" Q0,
		   "t.yaml:6:13: ", "devices[0].serial: ", "byte 2 is not printable ASCII");
	expect_err(DEV_START RAM "    serial: \"caf\xc3\xa9\"\n" Q0,
		   "t.yaml:6:13: ", "devices[0].serial: ", "byte 4 is not printable ASCII");
}

Test(topology, log_level)
{
	expect_err("hydra: { socket_dir: /r, log_level: loud }\ndevices: []\n",
		   "t.yaml:1:37: ", "hydra.log_level: ",
		   "'loud' is not a log level; expected error, warn, info or debug");
}

Test(topology, socket_paths_too_long)
{
	char yaml[2048], dir[128], rel[128];

	memset(dir, 'd', sizeof(dir));
	dir[0] = '/';
	dir[99] = '\0';
	/* 99 + "/vda.sock" = 108 bytes: one too many for sun_path. */
	snprintf(yaml, sizeof(yaml),
		 "hydra:\n  socket_dir: %s\n  status_socket: /s.sock\ndevices:\n  - name: vda\n" RAM
			 Q0,
		 dir);
	expect_err2(yaml, "t.yaml:5:11: ", "devices[0].socket: ", "is 108 bytes long",
		    "expected at most 107 bytes");
	cr_assert(strstr(err, "use a shorter hydra.socket_dir or set devices[0].socket"), "%s",
		  err);

	snprintf(yaml, sizeof(yaml), DEV_START RAM "    socket: %s/vda.sock\n" Q0, dir);
	expect_err2(yaml, "t.yaml:6:13: ", "devices[0].socket: ", "is 108 bytes long once resolved",
		    "expected at most 107");

	/* The default status socket is blamed on socket_dir: 99 + "/status.sock" = 111. */
	snprintf(yaml, sizeof(yaml), "hydra:\n  socket_dir: %s\ndevices: []\n", dir);
	expect_err2(yaml, "t.yaml:2:15: ", "hydra.status_socket: ", "<socket_dir>/status.sock",
		    "is 111 bytes long");

	/* Relative paths count once resolved: "/base/" + 102 = 108. */
	memset(rel, 'e', sizeof(rel));
	rel[102] = '\0';
	snprintf(yaml, sizeof(yaml), "hydra:\n  socket_dir: /r\n  status_socket: %s\ndevices: []\n",
		 rel);
	expect_err(yaml,
		   "t.yaml:3:18: ", "hydra.status_socket: ", "is 108 bytes long once resolved");

	/* 107 bytes is fine: 98 + "/vda.sock". */
	dir[98] = '\0';
	snprintf(yaml, sizeof(yaml),
		 "hydra:\n  socket_dir: %s\n  status_socket: /s.sock\ndevices:\n  - name: vda\n" RAM
			 Q0,
		 dir);
	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_eq(strlen(topo.devices[0].socket), 107);
}

Test(topology, socket_paths_must_differ)
{
	expect_err(MINIMAL "  - name: vdb\n    socket: /run/hydra/vda.sock\n" RAM Q0,
		   "t.yaml:9:13: ", "devices[1].socket: ",
		   "'/run/hydra/vda.sock' is already the socket of device 'vda' (line 4)");
	expect_err(DEV_START "    socket: /run/hydra/status.sock\n" RAM Q0, "t.yaml:5:13: ",
		   "devices[0].socket: ", "is already hydra.status_socket (line 2)");
	expect_err("hydra:\n  socket_dir: /run/hydra\n  status_socket: /run/hydra/vda.sock\n"
		   "devices:\n  - name: vda\n" RAM Q0,
		   "t.yaml:5:11: ", "devices[0].socket: ",
		   "'/run/hydra/vda.sock' is already hydra.status_socket (line 3)");
	/* Spelled differently, same file once resolved. */
	expect_err(MINIMAL "  - name: vdb\n    socket: ./x//./vda.sock\n" RAM Q0
			   "  - name: vdc\n    socket: x/vda.sock\n" RAM Q0,
		   "t.yaml:14:13: ", "devices[2].socket: ",
		   "already the socket of device 'vdb' (line 8)");
}

Test(topology, backend_paths_must_differ)
{
	expect_err(HYDRA "devices:\n"
			 "  - name: a\n    backend: { type: uring, path: img/a }\n" Q0
			 "  - name: b\n    backend: { type: uring, path: /base/img//a }\n" Q0,
		   "t.yaml:9:35: ", "devices[1].backend.path: ",
		   "'/base/img/a' is already the backend of device 'a' (line 4)");
}

Test(topology, empty_paths)
{
	expect_err(DEV_START "    backend: { type: uring, path: \"\" }\n" Q0,
		   "t.yaml:5:35: ", "devices[0].backend.path: ", "the path is empty");
	expect_err(DEV_START "    socket: ''\n" RAM Q0,
		   "t.yaml:5:13: ", "devices[0].socket: ", "the path is empty");
	expect_err("hydra: { socket_dir: \"\" }\ndevices: []\n",
		   "t.yaml:1:22: ", "hydra.socket_dir: ", "the path is empty");
	expect_err(DEV_START RAM "    \"queues\\0\": []\n",
		   "t.yaml:6:5: ", "devices[0].queues: unknown key (it contains a NUL character)",
		   "expected one of");
}

Test(topology, paths_ending_in_slash)
{
	expect_err(DEV_START "    backend: { type: uring, path: /dev/ }\n" Q0,
		   "t.yaml:5:35: ", "devices[0].backend.path: ", "'/dev/' ends with '/'");
}

Test(topology, cpu_does_not_exist)
{
	expect_err(DEV_START RAM "    queues:\n      - { cpu: 0 }\n      - { cpu: 7 }\n",
		   "t.yaml:8:16: ", "devices[0].queues[1].cpu: ",
		   "cpu 7 does not exist on this machine (cpus 0-1)");
	expect_err_on(&mholes, DEV_START RAM "    queues: [ { cpu: 5 } ]\n",
		      "t.yaml:6:22: ", "devices[0].queues[0].cpu: ",
		      "cpu 5 does not exist on this machine (cpus 0-1,4,6-7)", NULL);
	expect_err(DEV_START RAM "    queues: [ { cpu: 4096 } ]\n", "t.yaml:6:22: ",
		   "devices[0].queues[0].cpu: ", "cpu 4096 does not exist on this machine");
}

Test(topology, numa_must_match_the_cpu)
{
	expect_err_on(&m4, DEV_START RAM "    queues: [ { cpu: 2, numa: 0 } ]\n",
		      "t.yaml:6:31: ", "devices[0].queues[0].numa: ",
		      "numa 0 does not match cpu 2, which is on numa node 1; expected 1", NULL);
	expect_err(DEV_START RAM "    queues: [ { cpu: 1, numa: 1 } ]\n",
		   "t.yaml:6:31: ", "devices[0].queues[0].numa: ",
		   "numa 1 does not match cpu 1, which is on numa node 0");
}

Test(topology, no_devices)
{
	expect_err(HYDRA "devices: []\n",
		   "t.yaml:3:10: ", "devices: ", "no devices are listed; expected 1 to 32 devices");
	expect_err(HYDRA "devices:\n", "t.yaml:3:9: ", "devices: ", "got no value");
}

Test(topology, too_many_devices)
{
	static char yaml[16384];
	size_t o = (size_t)snprintf(yaml, sizeof(yaml), "%s", HYDRA "devices:\n");

	for (int i = 0; i < 33; i++)
		o += (size_t)snprintf(
			yaml + o, sizeof(yaml) - o,
			"  - { name: d%d, backend: { type: null, size: 1M }, queues: [ { cpu: 0 } ] }\n",
			i);
	/* The 33rd device is on line 3 + 33. */
	expect_err(yaml, "t.yaml:36:5: ", "devices: ", "33 devices; expected at most 32");

	/* 32 are fine. */
	*strstr(yaml, "  - { name: d32") = '\0';
	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_eq(topo.ndevices, 32);
}

Test(topology, too_many_queues)
{
	static char yaml[8192];
	size_t o = (size_t)snprintf(yaml, sizeof(yaml), "%s", DEV_START RAM "    queues:\n");

	for (int i = 0; i < 65; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "      - { cpu: %d }\n", i % 2);
	expect_err(yaml, "t.yaml:71:9: ", "devices[0].queues: ", "65 queues; expected at most 64");

	*strrchr(yaml, '-') = '\0';
	cr_assert_eq(parse(yaml), 0, "%s", err);
	cr_assert_eq(topo.devices[0].nqueues, 64);
}

Test(topology, empty_queues)
{
	expect_err(DEV_START RAM "    queues: []\n", "t.yaml:6:13: ", "devices[0].queues: ",
		   "the list is empty; expected 1 to 64 queues");
}

Test(topology, errors_fit_small_buffers)
{
	char small[16];
	int ret;

	memset(small, 'x', sizeof(small));
	ret = hy_topology_parse("devices: 1\n", 11, "t.yaml", "/b", &m2, &topo, small,
				sizeof(small));
	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_eq(hy_topology_parse("devices: 1\n", 11, "t.yaml", "/b", &m2, &topo, NULL, 0),
		     -EINVAL);
	cr_assert_eq(hy_topology_parse("x", 1, "t.yaml", "/b", NULL, &topo, err, sizeof(err)),
		     -EINVAL);
}

Test(topology, hostile_values_are_quoted_safely)
{
	char yaml[4096], name[600];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(yaml, sizeof(yaml), HYDRA "devices:\n  - %s: 1\n", name);
	cr_assert_eq(parse(yaml), -EINVAL);
	cr_assert(strstr(err, "t.yaml:4:5: devices[0].aaaa"), "%s", err);
	cr_assert(strstr(err, "...: unknown key"), "%s", err);

	expect_err(DEV_START RAM "    read_only: \"\\e[31mred\"\n" Q0,
		   "t.yaml:6:16: ", "devices[0].read_only: ", "'?[31mred' is not a boolean");
}

/* ---- sizes -------------------------------------------------------------------------------- */

Test(topology, parse_size_good)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"0", 0},
		{"4096", 4096},
		{"512B", 512},
		{"1K", 1024},
		{"4k", 4096},
		{"1KiB", 1024},
		{"2M", 2 << 20},
		{"2m", 2 << 20},
		{"3MiB", 3 << 20},
		{"1G", 1ull << 30},
		{"1g", 1ull << 30},
		{"1GiB", 1ull << 30},
		{"2T", 2ull << 40},
		{"2TiB", 2ull << 40},
		{"007", 7},
		{"16777215TiB", 16777215ull << 40},
		{"18446744073709551615", UINT64_MAX},
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 42;

		cr_assert_eq(hy_parse_size(good[i].s, &v), 0, "'%s' refused", good[i].s);
		cr_assert_eq(v, good[i].v, "'%s' gave %llu", good[i].s, (unsigned long long)v);
	}
}

Test(topology, parse_size_bad)
{
	static const char *const bad[] = {
		"",
		"GiB",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1 GiB",
		"1GB",
		"1MB",
		"1kB",
		"1kb",
		"1KB",
		"1TB",
		"1.5G",
		"1,5G",
		"1Gi",
		"1gib",
		"1GIB",
		"1KiBx",
		"0x10",
		"1e9",
		"1P",
		"1PiB",
		"1b",
		"16777216TiB",
		"18446744073709551616",
		"99999999999999999999999",
		"17179869184G",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		cr_assert_eq(hy_parse_size(bad[i], &v), -EINVAL, "'%s' accepted as %llu", bad[i],
			     (unsigned long long)v);
		cr_assert_eq(v, 42, "'%s' wrote its output", bad[i]);
	}
	cr_assert_eq(hy_parse_size(NULL, &v), -EINVAL);
}

/* ---- print -------------------------------------------------------------------------------- */

Test(topology, print_plan)
{
	const char *yaml = "hydra: { socket_dir: /run/hydra }\n"
			   "devices:\n"
			   "  - name: vda\n"
			   "    backend: { type: uring, path: /img/vda, size: 1GiB }\n"
			   "    queues: [ { cpu: 0 }, { cpu: 3 } ]\n"
			   "  - name: scratch\n"
			   "    backend: { type: ram, size: 1536M }\n"
			   "    read_only: true\n"
			   "    queues: [ { cpu: 2 } ]\n"
			   "  - name: grow\n"
			   "    backend: { type: uring, path: /img/grow }\n"
			   "    queues: [ { cpu: 1 } ]\n";
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(parse_on(yaml, &m4), 0, "%s", err);
	f = open_memstream(&out, &len);
	cr_assert_not_null(f);
	hy_topology_print(&topo, f);
	fclose(f);

	cr_assert(strstr(out, "status_socket: /run/hydra/status.sock\n"), "%s", out);
	cr_assert(strstr(out, "device vda (line 3)\n"), "%s", out);
	cr_assert(strstr(out, "  socket:       /run/hydra/vda.sock\n"), "%s", out);
	cr_assert(strstr(out, "  backend:      uring /img/vda, 1073741824 bytes (1 GiB)\n"), "%s",
		  out);
	cr_assert(strstr(out, "    queue 0: cpu 0, numa node 0\n    queue 1: cpu 3, numa node 1\n"),
		  "%s", out);
	cr_assert(strstr(out, "  backend:      ram, 1610612736 bytes (1.50 GiB)\n"), "%s", out);
	cr_assert(strstr(out, "  read_only:    yes\n"), "%s", out);
	cr_assert(strstr(out, "    queue 0: cpu 2, numa node 1\n"), "%s", out);
	cr_assert(strstr(out,
			 "  backend:      uring /img/grow, size of the existing file or device\n"),
		  "%s", out);
	cr_assert(
		strstr(out,
		       "  block_size:   512\n  read_only:    no\n  writeback:    yes\n"
		       "  discard:      yes\n  write_zeroes: yes\n  queue_size:   256\n"
		       "  idle_us:      1000\n  serial:       \"hydra-vda\"\n  queues:       2\n"),
		"%s", out);
	free(out);
}

Test(topology, backend_names)
{
	cr_assert_str_eq(hy_backend_name(HY_BE_URING), "uring");
	cr_assert_str_eq(hy_backend_name(HY_BE_RAM), "ram");
	cr_assert_str_eq(hy_backend_name(HY_BE_NULL), "null");
}

Test(topology, null_read_zeroes)
{
	cr_assert_eq(parse(DEV_START "    backend: { type: null, size: 1G }\n" Q0), 0, "%s", err);
	cr_assert(topo.devices[0].read_zeroes, "a null disk reads zeroes unless told otherwise");
	cr_assert_eq(
		parse(DEV_START "    backend: { type: null, size: 1G, read_zeroes: false }\n" Q0),
		0, "%s", err);
	cr_assert(!topo.devices[0].read_zeroes);
	cr_assert_eq(parse(DEV_START "    backend: { type: null, size: 1G, read_zeroes: on }\n" Q0),
		     0, "%s", err);
	cr_assert(topo.devices[0].read_zeroes);
	expect_err(DEV_START "    backend: { type: null, size: 1G, read_zeroes: maybe }\n" Q0,
		   "t.yaml:5:51: ", "devices[0].backend.read_zeroes: ", "'maybe' is not a boolean");
	expect_err(DEV_START "    backend: { type: ram, size: 1G, read_zeroes: false }\n" Q0,
		   "t.yaml:5:37: ", "devices[0].backend",
		   "read_zeroes: belongs to backend type null");
}

/* ---- nvme ---------------------------------------------------------------------------------- */

Test(topology, nvme_backend)
{
	cr_assert_eq(parse(DEV_START "    backend: { type: nvme, pci: \"0000:00:04.0\" }\n" Q0), 0,
		     "%s", err);
	cr_assert_eq(topo.devices[0].type, HY_BE_NVME);
	cr_assert_str_eq(topo.devices[0].pci, "0000:00:04.0");
	cr_assert_eq(topo.devices[0].nsid, 1);
	cr_assert_eq(topo.devices[0].size, 0, "size defaults to the namespace's");
	cr_assert(!topo.devices[0].block_size_set, "block size defaults to the namespace's");
	cr_assert_str_eq(hy_backend_name(topo.devices[0].type), "nvme");

	/* The short form is domain 0; upper-case hex is normalized as sysfs spells it. */
	cr_assert_eq(
		parse(DEV_START
		      "    block_size: 4096\n"
		      "    backend: { type: nvme, pci: 0A:1F.7, namespace: 3, size: 1GiB }\n" Q0),
		0, "%s", err);
	cr_assert_str_eq(topo.devices[0].pci, "0000:0a:1f.7");
	cr_assert_eq(topo.devices[0].nsid, 3);
	cr_assert_eq(topo.devices[0].size, 1ull << 30);
	cr_assert(topo.devices[0].block_size_set);
	cr_assert_eq(topo.devices[0].block_size, 4096);
}

Test(topology, nvme_errors)
{
	expect_err(DEV_START "    backend: { type: nvme }\n" Q0,
		   "t.yaml:5:14: ", "devices[0].backend", "pci");
	expect_err(DEV_START "    backend: { type: nvme, pci: 00:04 }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.pci: ", "'00:04' is not a PCI address");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:00:20.0 }\n" Q0, "t.yaml:5:33: ",
		   "devices[0].backend.pci: ", "'0000:00:20.0' is not a PCI address");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:00:04.8 }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.pci: ", "is not a PCI address");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:00:04.0x }\n" Q0,
		   "t.yaml:5:33: ", "devices[0].backend.pci: ", "is not a PCI address");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:00:04.0, namespace: 0 }\n" Q0,
		   "t.yaml:5:58: ", "devices[0].backend.namespace: ", "namespace ID from 1");
	expect_err(DEV_START
		   "    backend: { type: nvme, pci: 0000:00:04.0, namespace: 4294967295 }\n" Q0,
		   "t.yaml:5:58: ", "devices[0].backend.namespace: ", "namespace ID from 1");
	expect_err(DEV_START "    backend: { type: ram, size: 1G, pci: 0000:00:04.0 }\n" Q0,
		   "t.yaml:5:37: ", "devices[0].backend", "pci: belongs to backend type nvme");
	expect_err(DEV_START "    backend: { type: null, size: 1G, namespace: 1 }\n" Q0,
		   "t.yaml:5:38: ", "devices[0].backend",
		   "namespace: belongs to backend type nvme");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:00:04.0, size: 1000 }\n" Q0,
		   "t.yaml:5:53: ", "devices[0].backend.size: ", "not a multiple of block_size");
	expect_err(DEV_START "    backend: { type: nvme, pci: 0000:00:04.0 }\n" Q0 "  - name: vdb\n"
			     "    backend: { type: nvme, pci: 00:04.0, namespace: 2 }\n" Q0,
		   "t.yaml:9:33: ", "devices[1].backend.pci: ",
		   "controller 0000:00:04.0 is already the backend of device 'vda' (line 4)");
}
