"""How many threads swscale converts a still picture with: one.

PyAV's default (0: one per core) races on pictures a few rows high: an 8x6 16-bit grey +
alpha PNG read as gray16le came back with whole rows of 32768 about once in 300
conversions on a busy 2-core machine, and 8x6 RGB to YUV 4:2:0 about once in 1200; one
thread gave none in 6000, and no size from 16x12 up went wrong with either. A still picture
is converted once, where a thread's speed is worth less than a wrong row.
"""

STILL_THREADS = 1
