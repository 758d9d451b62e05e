/* SPDX-License-Identifier: MIT */
/*
 * NVMe Status Field decoding: names from NVMe Base 2.0, 3.3.3.2.1 "Status Field Definition" (and
 * the NVM Command Set 1.0 values), and the errno each one becomes. The errno choices follow what
 * Linux's nvme_error_status() makes of them where it has a rule: LBA range and capacity errors
 * are the caller's fault, protection errors are -EILSEQ, reservation conflicts -EBADE.
 */
#include <errno.h>

#include "nvme/nvme.h"

struct status_name {
	uint16_t status;
	int err;
	const char *name;
};

#define S(sct, sc, err, name)                                                                      \
	{                                                                                          \
		HY_NVME_STATUS(sct, sc), err, name                                                 \
	}

static const struct status_name status_names[] = {
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SUCCESS, 0, "Successful Completion"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_OPCODE, -EOPNOTSUPP, "Invalid Command Opcode"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_FIELD, -EINVAL, "Invalid Field in Command"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_CID_CONFLICT, -EIO, "Command ID Conflict"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_DATA_XFER_ERROR, -EIO, "Data Transfer Error"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_POWER_LOSS, -EIO,
	  "Commands Aborted due to Power Loss Notification"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_INTERNAL, -EIO, "Internal Error"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_ABORT_REQ, -ECANCELED, "Command Abort Requested"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_ABORT_SQ_DELETED, -ECANCELED,
	  "Command Aborted due to SQ Deletion"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_FUSED_FAIL, -EIO,
	  "Command Aborted due to Failed Fused Command"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_FUSED_MISSING, -EIO,
	  "Command Aborted due to Missing Fused Command"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_INVALID_NS, -ENXIO, "Invalid Namespace or Format"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_CMD_SEQ_ERROR, -EIO, "Command Sequence Error"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_LAST, -EINVAL,
	  "Invalid SGL Segment Descriptor"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_COUNT, -EINVAL,
	  "Invalid Number of SGL Descriptors"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_DATA, -EINVAL, "Data SGL Length Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_METADATA, -EINVAL,
	  "Metadata SGL Length Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_TYPE, -EINVAL, "SGL Descriptor Type Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_CMB_INVALID_USE, -EINVAL,
	  "Invalid Use of Controller Memory Buffer"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_PRP_INVALID_OFFSET, -EINVAL, "PRP Offset Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_ATOMIC_WU_EXCEEDED, -EINVAL,
	  "Atomic Write Unit Exceeded"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_OP_DENIED, -EPERM, "Operation Denied"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_OFFSET, -EINVAL, "SGL Offset Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_HOSTID_INCONSISTENT, -EINVAL,
	  "Host Identifier Inconsistent Format"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_KA_EXPIRED, -EIO, "Keep Alive Timer Expired"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_KA_INVALID, -EINVAL, "Keep Alive Timeout Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_PREEMPT_ABORT, -ECANCELED,
	  "Command Aborted due to Preempt and Abort"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SANITIZE_FAILED, -EIO, "Sanitize Failed"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SANITIZE_IN_PROGRESS, -EBUSY, "Sanitize In Progress"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_SGL_INVALID_GRANULARITY, -EINVAL,
	  "SGL Data Block Granularity Invalid"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_CMD_NOT_SUP_CMB_QUEUE, -EOPNOTSUPP,
	  "Command Not Supported for Queue in CMB"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_NS_WRITE_PROTECTED, -EROFS,
	  "Namespace is Write Protected"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_CMD_INTERRUPTED, -EAGAIN, "Command Interrupted"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_TRANSIENT_TRANSPORT, -EAGAIN,
	  "Transient Transport Error"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_PROHIBITED_LOCKDOWN, -EPERM,
	  "Command Prohibited by Command and Feature Lockdown"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_MEDIA_NOT_READY, -EAGAIN,
	  "Admin Command Media Not Ready"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_LBA_RANGE, -ERANGE, "LBA Out of Range"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_CAP_EXCEEDED, -ENOSPC, "Capacity Exceeded"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_NS_NOT_READY, -EAGAIN, "Namespace Not Ready"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_RESERVATION_CONFLICT, -EBADE, "Reservation Conflict"),
	S(HY_NVME_SCT_GENERIC, HY_NVME_SC_FORMAT_IN_PROGRESS, -EBUSY, "Format In Progress"),

	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_CQ_INVALID, -EINVAL, "Completion Queue Invalid"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QID_INVALID, -EINVAL, "Invalid Queue Identifier"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_QUEUE_SIZE, -EINVAL, "Invalid Queue Size"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_ABORT_LIMIT, -EBUSY, "Abort Command Limit Exceeded"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_AER_LIMIT, -EBUSY,
	  "Asynchronous Event Request Limit Exceeded"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_FW_SLOT, -EINVAL, "Invalid Firmware Slot"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_FW_IMAGE, -EINVAL, "Invalid Firmware Image"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_INVALID_VECTOR, -EINVAL, "Invalid Interrupt Vector"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_INVALID_LOG_PAGE, -EINVAL, "Invalid Log Page"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_INVALID_FORMAT, -EINVAL, "Invalid Format"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_INVALID_QUEUE_DELETION, -EBUSY,
	  "Invalid Queue Deletion"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_FEATURE_NOT_SAVEABLE, -EINVAL,
	  "Feature Identifier Not Saveable"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_FEATURE_NOT_CHANGEABLE, -EINVAL,
	  "Feature Not Changeable"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_FEATURE_NOT_PER_NS, -EINVAL,
	  "Feature Not Namespace Specific"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_CONFLICTING_ATTRS, -EINVAL,
	  "Conflicting Attributes"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_INVALID_PI, -EINVAL,
	  "Invalid Protection Information"),
	S(HY_NVME_SCT_CMD_SPECIFIC, HY_NVME_SC_READ_ONLY, -EROFS,
	  "Attempted Write to Read Only Range"),

	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_WRITE_FAULT, -EIO, "Write Fault"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_UNRECOVERED_READ, -EIO, "Unrecovered Read Error"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_GUARD_CHECK, -EILSEQ, "End-to-end Guard Check Error"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_APPTAG_CHECK, -EILSEQ,
	  "End-to-end Application Tag Check Error"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_REFTAG_CHECK, -EILSEQ,
	  "End-to-end Reference Tag Check Error"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_COMPARE_FAILED, -EILSEQ, "Compare Failure"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_ACCESS_DENIED, -EACCES, "Access Denied"),
	S(HY_NVME_SCT_MEDIA, HY_NVME_SC_DEALLOCATED_OR_UNWRITTEN, -ENODATA,
	  "Deallocated or Unwritten Logical Block"),

	S(HY_NVME_SCT_PATH, HY_NVME_SC_PATH_INTERNAL, -EIO, "Internal Path Error"),
	S(HY_NVME_SCT_PATH, HY_NVME_SC_ANA_PERSISTENT_LOSS, -ENOLINK,
	  "Asymmetric Access Persistent Loss"),
	S(HY_NVME_SCT_PATH, HY_NVME_SC_ANA_INACCESSIBLE, -ENOLINK,
	  "Asymmetric Access Inaccessible"),
	S(HY_NVME_SCT_PATH, HY_NVME_SC_ANA_TRANSITION, -EAGAIN, "Asymmetric Access Transition"),
	S(HY_NVME_SCT_PATH, HY_NVME_SC_CTRL_PATH_ERROR, -ENOLINK, "Controller Pathing Error"),
	S(HY_NVME_SCT_PATH, HY_NVME_SC_HOST_PATH_ERROR, -ENOLINK, "Host Pathing Error"),
	S(HY_NVME_SCT_PATH, HY_NVME_SC_HOST_ABORTED_CMD, -ECANCELED, "Command Aborted By Host"),
};

#undef S

/* Only SCT and SC identify a status; CRD, M and DNR qualify it. */
static const struct status_name *status_lookup(uint16_t status)
{
	uint16_t key = status & 0x7ff;

	for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (status_names[i].status == key)
			return &status_names[i];
	return NULL;
}

int hy_nvme_status_errno(uint16_t status)
{
	const struct status_name *s = status_lookup(status);

	if (s)
		return s->err;
	return (status & 0x7ff) ? -EIO : 0;
}

const char *hy_nvme_status_str(uint16_t status)
{
	const struct status_name *s = status_lookup(status);

	if (s)
		return s->name;
	switch (HY_NVME_STATUS_SCT(status)) {
	case HY_NVME_SCT_GENERIC:
		return "Unknown Generic Command Status";
	case HY_NVME_SCT_CMD_SPECIFIC:
		return "Unknown Command Specific Status";
	case HY_NVME_SCT_MEDIA:
		return "Unknown Media and Data Integrity Error";
	case HY_NVME_SCT_PATH:
		return "Unknown Path Related Status";
	case HY_NVME_SCT_VENDOR:
		return "Vendor Specific Status";
	default:
		return "Reserved Status Code Type";
	}
}
