#!/usr/bin/env python3
"""tiny-bzimage.py OUT CODE: writes OUT, a minimal bzImage (boot protocol
2.15, 64-bit entry) whose 64-bit entry point runs CODE (hex bytes). The lab
tests use it for guests that triple-fault, reset or power off at once."""
import struct
import sys

out, code = sys.argv[1], bytes.fromhex(sys.argv[2])
img = bytearray(2 * 512 + 0x1000)
img[0x1F1] = 1  # setup_sects
struct.pack_into("<H", img, 0x1FE, 0xAA55)
img[0x200:0x202] = b"\xeb\x6a"  # jump over the header
img[0x202:0x206] = b"HdrS"
struct.pack_into("<H", img, 0x206, 0x020F)  # protocol 2.15
img[0x211] = 0x01  # LOADED_HIGH
struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
struct.pack_into("<H", img, 0x236, 0x0001)  # XLF_KERNEL_64
struct.pack_into("<I", img, 0x238, 255)  # cmdline_size
struct.pack_into("<I", img, 0x260, 0x10000)  # init_size
# The protected-mode kernel starts after the setup sectors; the 64-bit entry
# is 0x200 into it.
img[1024 + 0x200 : 1024 + 0x200 + len(code)] = code
with open(out, "wb") as f:
    f.write(img)
