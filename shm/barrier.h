/* SPDX-License-Identifier: MIT */
/*
 * Memory ordering between CPUs (guest driver and worker, master and worker) and towards devices.
 * liburing's io_uring_smp_load_acquire / io_uring_smp_store_release style on top of C11 atomics.
 * Every user names what its barrier pairs with.
 */
#ifndef HY_SHM_BARRIER_H
#define HY_SHM_BARRIER_H

#include <stdatomic.h>

/* Load that later loads cannot be reordered before. */
#define hy_load_acquire(p)                                                                         \
	atomic_load_explicit((_Atomic __typeof__(*(p)) *)(p), memory_order_acquire)
/* Store that earlier loads and stores cannot be reordered after. */
#define hy_store_release(p, v)                                                                     \
	atomic_store_explicit((_Atomic __typeof__(*(p)) *)(p), (v), memory_order_release)
/* Single-copy-atomic accesses with no ordering (statistics, flags read by another process). */
#define hy_load_relaxed(p)                                                                         \
	atomic_load_explicit((_Atomic __typeof__(*(p)) *)(p), memory_order_relaxed)
#define hy_store_relaxed(p, v)                                                                     \
	atomic_store_explicit((_Atomic __typeof__(*(p)) *)(p), (v), memory_order_relaxed)
/* Full barrier: orders earlier stores against later loads (virtio's virtio_mb()). */
#define hy_smp_mb() atomic_thread_fence(memory_order_seq_cst)

/*
 * Device barriers for MMIO and DMA (nvme/qpair.c). On x86 stores to WB and UC memory are not
 * reordered with other stores, so wmb/rmb only need to stop the compiler; a full fence is used
 * on other architectures.
 */
#if defined(__x86_64__) || defined(__i386__)
#define hy_wmb()     __asm__ __volatile__("sfence" ::: "memory")
#define hy_dma_rmb() __asm__ __volatile__("" ::: "memory")
#else
#define hy_wmb()     atomic_thread_fence(memory_order_seq_cst)
#define hy_dma_rmb() atomic_thread_fence(memory_order_seq_cst)
#endif

#endif
