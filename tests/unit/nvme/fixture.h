/* SPDX-License-Identifier: MIT */
/*
 * Shared set-up for the nvme/ tests that run the driver against the model: the driver's .c files
 * compiled with the MMIO hook (nvme/mmio.h), the model, a "guest memory" buffer mapped at
 * GIOVA (IOVA = guest physical address + GIOVA, README-nvme.md), and completion helpers.
 */
#ifndef HY_TEST_NVME_FIXTURE_H
#define HY_TEST_NVME_FIXTURE_H

#define HY_NVME_MMIO_HOOK 1
#include "nvme/ctrl.c"
#include "nvme/dma.c"
#include "nvme/prp.c"
#include "nvme/qpair.c"
#include "nvme/sgl.c"
#include "nvme/status.c"

#include "model.c"

#include <criterion/criterion.h>

#define FX_UNUSED __attribute__((unused))

#define GIOVA 0x100000000ull /* guest physical 0 */
#define GSIZE (8u << 20)

static struct model *m;
static struct hy_nvme_ctrl ctrl;
static uint8_t *gmem;

struct done {
	int calls;
	int err;
	uint16_t status;
	uint32_t dw0;
};

static FX_UNUSED void on_done(void *arg, const struct hy_nvme_cpl *c)
{
	struct done *d = arg;

	d->calls++;
	d->err = c->err;
	d->status = c->status;
	d->dw0 = c->dw0;
}

/* A model, a controller brought up on it with short timeouts, and mapped guest memory. */
static FX_UNUSED int fx_up(struct hy_nvme_ctrl_opts *opts)
{
	struct hy_nvme_ctrl_cfg cfg;

	model_ctrl_cfg(m, &cfg);
	if (opts)
		cfg.opts = *opts;
	if (!cfg.opts.admin_timeout_ms)
		cfg.opts.admin_timeout_ms = 200;
	if (!cfg.opts.io_timeout_ms)
		cfg.opts.io_timeout_ms = 100;
	return hy_nvme_ctrl_init(&ctrl, &cfg);
}

static FX_UNUSED void fx_gmem(void)
{
	gmem = aligned_alloc(4096, GSIZE);
	cr_assert_not_null(gmem);
	memset(gmem, 0, GSIZE);
	cr_assert_eq(model_dma_ops.map(m, gmem, GSIZE, GIOVA), 0);
}

static FX_UNUSED void fx_down(void)
{
	if (ctrl.enabled || ctrl.admin_mem.vaddr)
		hy_nvme_ctrl_fini(&ctrl);
	memset(&ctrl, 0, sizeof(ctrl));
	if (gmem) {
		model_dma_ops.unmap(m, GIOVA, GSIZE);
		free(gmem);
		gmem = NULL;
	}
	model_free(m);
	m = NULL;
}

/* Poll until @d has seen @n callbacks (bounded). */
static FX_UNUSED void fx_wait(struct hy_nvme_qpair *qp, struct done *d, int n)
{
	for (int i = 0; i < 100000 && d->calls < n; i++)
		hy_nvme_qpair_poll(qp, 0);
	cr_assert_eq(d->calls, n, "%d of %d callbacks", d->calls, n);
}

static FX_UNUSED void fx_model_clean(void)
{
	cr_assert_eq(m->errors, 0, "model saw a protocol violation: %s", m->error);
}

static FX_UNUSED void fx_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

#endif
