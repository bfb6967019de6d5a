# The fat base image itself (built once by kiln from busybox, cached in .cache/bench/):
# 50,000 files of 5,369 bytes (hex of random bytes, so it compresses about 2:1), ~256 MiB.
ARG BASE
FROM $BASE
RUN head -c 134200000 /dev/urandom | xxd -p -c 2684 | awk '{ if ((NR - 1) % 1000 == 0) { d = "/fat/d" int((NR - 1) / 1000); system("mkdir -p " d) } f = d "/f" NR; print > f; close(f) }'
