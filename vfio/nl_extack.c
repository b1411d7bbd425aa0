/* Extended ACK parsing (nl_extack.h). The attributes follow the nlmsgerr,
 * and, unless the kernel capped the ACK, the echoed request after it. */
#include "nl_extack.h"

#include <string.h>

int evr_nl_extack_msg(const struct nlmsghdr *hdr, char *buf, size_t len)
{
    const struct nlmsgerr *e;
    const char *p, *end;
    size_t off;

    if (len == 0)
        return -1;
    buf[0] = '\0';
    if (hdr->nlmsg_type != NLMSG_ERROR || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
        return -1;
    if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
        return 0;
    e = NLMSG_DATA(hdr);
    off = NLMSG_LENGTH(sizeof(*e));
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) {
        if (e->msg.nlmsg_len < NLMSG_HDRLEN)
            return -1;
        off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
    }
    p = (const char *)hdr + off;
    end = (const char *)hdr + hdr->nlmsg_len;
    while (p + NLA_HDRLEN <= end) {
        const struct nlattr *a = (const struct nlattr *)p;
        size_t alen = a->nla_len;

        if (alen < NLA_HDRLEN || p + alen > end)
            return -1;
        if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
            const char *s = p + NLA_HDRLEN;
            size_t n = strnlen(s, alen - NLA_HDRLEN);

            if (n >= len)
                n = len - 1;
            memcpy(buf, s, n);
            buf[n] = '\0';
            return (int)n;
        }
        p += NLA_ALIGN(alen);
    }
    return 0;
}
