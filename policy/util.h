/* util.h: overflow-free arithmetic for the policies (internal to policy/).
 * Every quantity is a uint64_t that saturates instead of wrapping. */
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Any byte quantity is clamped to this (1 PiB) before it is used, so that
 * the sum over 10,000 VMs stays far from 2^64; no real host comes close. */
#define POLICY_BYTES_CAP (1ull << 50)

static inline uint64_t
policy_sat_add (uint64_t a, uint64_t b)
{
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static inline uint64_t
policy_sat_sub (uint64_t a, uint64_t b)
{
  return a > b ? a - b : 0;
}

static inline uint64_t
policy_sat_mul (uint64_t a, uint64_t b)
{
  uint64_t r;
  return __builtin_mul_overflow (a, b, &r) ? UINT64_MAX : r;
}

static inline uint64_t
policy_min_u64 (uint64_t a, uint64_t b)
{
  return a < b ? a : b;
}

static inline uint64_t
policy_max_u64 (uint64_t a, uint64_t b)
{
  return a > b ? a : b;
}

static inline uint64_t
policy_clamp_u64 (uint64_t v, uint64_t lo, uint64_t hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

static inline uint64_t
policy_cap_bytes (uint64_t v)
{
  return v > POLICY_BYTES_CAP ? POLICY_BYTES_CAP : v;
}

/* A double turned into a uint64_t: NaN and negatives give 0, anything at or
 * above 2^64 gives UINT64_MAX (the plain cast is undefined there). */
static inline uint64_t
policy_u64_from_double (double d)
{
  if (!(d > 0.0))
    return 0;
  if (d >= 18446744073709551616.0)
    return UINT64_MAX;
  return (uint64_t) d;
}

/* A finite double within [lo, hi]; NaN gives lo. */
static inline double
policy_clamp_double (double d, double lo, double hi)
{
  if (!(d >= lo))
    return lo;
  if (d > hi)
    return hi;
  return d;
}

/* a * num / den without overflow (den == 0 gives 0); rounds down. */
static inline uint64_t
policy_mul_div (uint64_t a, uint64_t num, uint64_t den)
{
  if (den == 0)
    return 0;
  unsigned __int128 r = (unsigned __int128) a * num / den;
  return r > UINT64_MAX ? UINT64_MAX : (uint64_t) r;
}

/* a * pct / 100 for a percentage in [0, 100] (clamped; NaN is 0). */
static inline uint64_t
policy_pct_of (uint64_t a, double pct)
{
  pct = policy_clamp_double (pct, 0.0, 100.0);
  return policy_u64_from_double ((double) a * (pct / 100.0));
}
