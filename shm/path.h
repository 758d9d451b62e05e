/* SPDX-License-Identifier: MIT */
#ifndef HY_SHM_PATH_H
#define HY_SHM_PATH_H

/**
 * hy_path_make_parent() - mkdir -p of the folder that holds @path (mode 0755), so a socket or a
 * backing file can be created there. Used by the master for sockets and sparse files.
 * Return: 0 or -errno.
 */
int hy_path_make_parent(const char *path);

#endif
