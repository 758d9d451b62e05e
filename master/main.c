/* SPDX-License-Identifier: MIT */
/*
 * hydra: a vhost-user-blk target. The master process starts here.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (worth retrying), 2 configuration or usage error
 * (retrying will not help).
 */
#define HY_LOG_COMPONENT "main"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/cpu.h"
#include "master/master.h"
#include "master/topology.h"
#include "shm/log.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: hydra --topology PATH [--log-level LEVEL]\n"
		"       hydra --check PATH\n"
		"\n"
		"Serve the vhost-user-blk devices that PATH (topology.yaml) describes, in the\n"
		"foreground, logging to stderr, until SIGTERM or SIGINT.\n"
		"\n"
		"  -t, --topology PATH    the topology file to serve\n"
		"  -c, --check PATH       validate PATH against this machine, print the plan, exit\n"
		"  -l, --log-level LEVEL  error, warn, info or debug (overrides the file)\n"
		"  -h, --help             this text\n"
		"  -V, --version          the version\n"
		"\n"
		"Exit codes: 0 clean stop, 1 runtime failure, 2 configuration or usage error.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"topology", required_argument, NULL, 't'},
		{"check", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct hy_topology topo;
	static struct hy_machine machine;
	const char *path = NULL;
	bool check = false;
	int level = -1, c, ret;
	char err[1024];

	hy_log_init("master", NULL, HY_LOG_INFO);
	while ((c = getopt_long(argc, argv, "t:c:l:hV", opts, NULL)) != -1) {
		switch (c) {
		case 't':
		case 'c':
			if (path) {
				fprintf(stderr,
					"hydra: give one topology file, with --topology or --check\n");
				return 2;
			}
			path = optarg;
			check = c == 'c';
			break;
		case 'l':
			level = hy_log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr,
					"hydra: --log-level takes error, warn, info or debug, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("hydra %s\n", HY_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hydra: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!path) {
		fprintf(stderr, "hydra: no topology file; use --topology PATH (see --help)\n");
		return 2;
	}
	ret = hy_machine_probe(&machine);
	if (ret < 0) {
		fprintf(stderr, "hydra: cannot read this machine's topology with hwloc: %s\n",
			strerror(-ret));
		return 1;
	}
	ret = hy_topology_load(path, &machine, &topo, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "hydra: %s\n", err);
		return 2;
	}
	if (check) {
		hy_topology_print(&topo, stdout);
		return 0;
	}
	hy_log_set_level(level >= 0 ? (enum hy_log_level)level : (enum hy_log_level)topo.log_level);
	return hy_master_run(&topo, &machine);
}
