/* fuzz-bytes.h: a C take on libFuzzer's FuzzedDataProvider: numbers are taken
 * from the input's end, raw byte runs from its front; an empty input gives 0s. */
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct
{
  const uint8_t *data;
  size_t size;
} FuzzBytes;

/* An integer in [lo, hi], from as few trailing bytes as the range needs (so
 * a mutation of one byte changes one field). */
static inline uint64_t
fuzz_range (FuzzBytes *b, uint64_t lo, uint64_t hi)
{
  if (hi <= lo)
    return lo;
  uint64_t span = hi - lo, v = 0;
  for (unsigned used = 0; used < 64 && (span >> used) > 0 && b->size > 0; used += 8)
    v = (v << 8) | b->data[--b->size];
  return span == UINT64_MAX ? lo + v : lo + v % (span + 1);
}

static inline uint64_t
fuzz_u64 (FuzzBytes *b)
{
  return fuzz_range (b, 0, UINT64_MAX);
}

static inline bool
fuzz_bool (FuzzBytes *b)
{
  return fuzz_range (b, 0, 1) == 1;
}

/* Up to `n` bytes from the front; `*got` says how many there were. */
static inline const uint8_t *
fuzz_front (FuzzBytes *b, size_t n, size_t *got)
{
  const uint8_t *p = b->data;
  *got = n < b->size ? n : b->size;
  b->data += *got;
  b->size -= *got;
  return p;
}

/* A byte quantity around `typical`: mostly plausible, often an edge. */
static inline uint64_t
fuzz_bytes_near (FuzzBytes *b, uint64_t typical)
{
  switch (fuzz_range (b, 0, 7))
    {
      case 0:
        return 0;
      case 1:
        return UINT64_MAX - fuzz_range (b, 0, 4095);
      case 2:
        return 1ull << fuzz_range (b, 0, 63);
      case 3:
        return fuzz_u64 (b);
      default:
        return fuzz_range (b, 0, typical);
    }
}

/* A double around `typical`, or a non-finite, negative or huge one. */
static inline double
fuzz_double_near (FuzzBytes *b, double typical)
{
  switch (fuzz_range (b, 0, 7))
    {
      case 0:
        return NAN;
      case 1:
        return fuzz_bool (b) ? INFINITY : -INFINITY;
      case 2:
        return -(double) fuzz_range (b, 0, 1000);
      case 3:
        {
          uint64_t bits = fuzz_u64 (b);
          double d;
          memcpy (&d, &bits, sizeof d);
          return d;
        }
      default:
        return typical * (double) fuzz_range (b, 0, 1000) / 1000.0;
    }
}
