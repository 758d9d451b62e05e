/* SPDX-License-Identifier: MIT */
/* nvme/status.c: Status Field to errno and to the specification's name. */
#include <criterion/criterion.h>
#include <errno.h>

#include "nvme/nvme.h"

#define ST(sct, sc) HY_NVME_STATUS(HY_NVME_SCT_##sct, HY_NVME_SC_##sc)

Test(status, field_layout)
{
	/* CQE DW3 bits 31:17 as the driver keeps them: SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14.
	 */
	uint16_t st = (uint16_t)(0x0281 | (2u << 11) | (1u << 13) | (1u << 14));

	cr_assert_eq(HY_NVME_STATUS_SC(st), 0x81);
	cr_assert_eq(HY_NVME_STATUS_SCT(st), 2);
	cr_assert_eq(HY_NVME_STATUS_CRD(st), 2);
	cr_assert_eq(HY_NVME_STATUS_M(st), 1);
	cr_assert_eq(HY_NVME_STATUS_DNR(st), 1);
	cr_assert_eq(ST(MEDIA, UNRECOVERED_READ), 0x281);
}

Test(status, errnos)
{
	static const struct {
		uint16_t st;
		int err;
	} t[] = {
		{ST(GENERIC, SUCCESS), 0},
		{ST(GENERIC, INVALID_OPCODE), -EOPNOTSUPP},
		{ST(GENERIC, INVALID_FIELD), -EINVAL},
		{ST(GENERIC, DATA_XFER_ERROR), -EIO},
		{ST(GENERIC, INTERNAL), -EIO},
		{ST(GENERIC, ABORT_REQ), -ECANCELED},
		{ST(GENERIC, ABORT_SQ_DELETED), -ECANCELED},
		{ST(GENERIC, INVALID_NS), -ENXIO},
		{ST(GENERIC, PRP_INVALID_OFFSET), -EINVAL},
		{ST(GENERIC, NS_WRITE_PROTECTED), -EROFS},
		{ST(GENERIC, CMD_INTERRUPTED), -EAGAIN},
		{ST(GENERIC, LBA_RANGE), -ERANGE},
		{ST(GENERIC, CAP_EXCEEDED), -ENOSPC},
		{ST(GENERIC, NS_NOT_READY), -EAGAIN},
		{ST(GENERIC, RESERVATION_CONFLICT), -EBADE},
		{ST(CMD_SPECIFIC, CQ_INVALID), -EINVAL},
		{ST(CMD_SPECIFIC, QID_INVALID), -EINVAL},
		{ST(CMD_SPECIFIC, QUEUE_SIZE), -EINVAL},
		{ST(CMD_SPECIFIC, ABORT_LIMIT), -EBUSY},
		{ST(CMD_SPECIFIC, INVALID_LOG_PAGE), -EINVAL},
		{ST(CMD_SPECIFIC, INVALID_QUEUE_DELETION), -EBUSY},
		{ST(CMD_SPECIFIC, READ_ONLY), -EROFS},
		{ST(MEDIA, WRITE_FAULT), -EIO},
		{ST(MEDIA, UNRECOVERED_READ), -EIO},
		{ST(MEDIA, GUARD_CHECK), -EILSEQ},
		{ST(MEDIA, ACCESS_DENIED), -EACCES},
		{ST(MEDIA, DEALLOCATED_OR_UNWRITTEN), -ENODATA},
		{ST(PATH, ANA_TRANSITION), -EAGAIN},
		{ST(PATH, HOST_PATH_ERROR), -ENOLINK},
		{HY_NVME_STATUS(HY_NVME_SCT_GENERIC, 0x7f), -EIO}, /* unknown */
		{HY_NVME_STATUS(HY_NVME_SCT_VENDOR, 0x01), -EIO},  /* vendor specific */
		{HY_NVME_STATUS(HY_NVME_SCT_CMD_SPECIFIC, 0x00),
		 -EINVAL}, /* SC 0 is not success here */
	};

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_assert_eq(hy_nvme_status_errno(t[i].st), t[i].err, "status 0x%03x: %d, want %d",
			     t[i].st, hy_nvme_status_errno(t[i].st), t[i].err);
}

Test(status, qualifiers_do_not_change_the_meaning)
{
	uint16_t st = ST(GENERIC, LBA_RANGE);

	for (unsigned q = 0; q < 16; q++) {
		uint16_t qualified = (uint16_t)(st | q << 11); /* CRD, M, DNR */

		cr_assert_eq(hy_nvme_status_errno(qualified), -ERANGE);
		cr_assert_str_eq(hy_nvme_status_str(qualified), "LBA Out of Range");
	}
	cr_assert_eq(hy_nvme_status_errno(1u << 14), 0, "DNR alone on success is still success");
}

Test(status, names)
{
	cr_assert_str_eq(hy_nvme_status_str(0), "Successful Completion");
	cr_assert_str_eq(hy_nvme_status_str(ST(GENERIC, INVALID_FIELD)),
			 "Invalid Field in Command");
	cr_assert_str_eq(hy_nvme_status_str(ST(GENERIC, ABORT_REQ)), "Command Abort Requested");
	cr_assert_str_eq(hy_nvme_status_str(ST(CMD_SPECIFIC, QID_INVALID)),
			 "Invalid Queue Identifier");
	cr_assert_str_eq(hy_nvme_status_str(ST(MEDIA, UNRECOVERED_READ)), "Unrecovered Read Error");
	cr_assert_str_eq(hy_nvme_status_str(ST(PATH, ANA_INACCESSIBLE)),
			 "Asymmetric Access Inaccessible");
	cr_assert_str_eq(hy_nvme_status_str(HY_NVME_STATUS(HY_NVME_SCT_GENERIC, 0x7f)),
			 "Unknown Generic Command Status");
	cr_assert_str_eq(hy_nvme_status_str(HY_NVME_STATUS(HY_NVME_SCT_VENDOR, 3)),
			 "Vendor Specific Status");
	cr_assert_str_eq(hy_nvme_status_str(HY_NVME_STATUS(5, 3)), "Reserved Status Code Type");
}
