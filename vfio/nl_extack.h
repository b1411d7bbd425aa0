/* The kernel's extended ACK: the text a netlink error may carry
 * (NLMSGERR_ATTR_MSG) when the socket has NETLINK_EXT_ACK on. */
#ifndef EVR_VFIO_NL_EXTACK_H
#define EVR_VFIO_NL_EXTACK_H

#include <linux/netlink.h>
#include <stddef.h>

/* Copies the error text of an NLMSG_ERROR message into buf; returns its
 * length, 0 when the kernel gave none, -1 when the message is malformed. */
int evr_nl_extack_msg(const struct nlmsghdr *hdr, char *buf, size_t len);

#endif
