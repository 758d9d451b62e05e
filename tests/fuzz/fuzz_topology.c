/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the topology parser: arbitrary bytes as a topology file, validated
 * against a fake 2-cpu, 1-node machine. Successful parses are also printed (to /dev/null) so the
 * plan printer sees every shape of topology the fuzzer finds.
 *
 * The parser is included rather than linked: tests/fuzz/CMakeLists.txt builds only this file
 * with -fsanitize=fuzzer, so a linked libhy_master.a would give the fuzzer no coverage feedback.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "master/topology.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hy_topology t; /* ~140 KiB: not on the stack */
	static struct hy_machine m;
	static FILE *null_out;
	char err[512];
	int ret;

	if (!m.ncpus) {
		m.ncpus = 2;
		m.nnodes = 1;
		m.present[0] = m.present[1] = true;
		null_out = fopen("/dev/null", "w");
	}
	ret = hy_topology_parse((const char *)data, size, "fuzz.yaml", "/fuzz", &m, &t, err,
				sizeof(err));
	if (!ret && null_out)
		hy_topology_print(&t, null_out);
	/* Every failure must come with a message, and the message must be a C string. */
	if (ret && memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	if (ret == -EINVAL && !err[0])
		__builtin_trap();
	return 0;
}
