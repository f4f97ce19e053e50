/* test-policy-release.c: the release plan (memory given back when ballast
 * stops): every VM to its max when the host can afford it, otherwise equal
 * fractions of each shortfall from what it holds (max(actual, PSS)), never
 * more than the room, never a shrink. */
#include <glib.h>

#include "policy.h"

#define MiB POLICY_MIB
#define GiB POLICY_GIB
/* A VM without a known PSS: counted at its balloon. */
#define VM(actual, max)                                                                            \
  {                                                                                                \
    .actual_bytes = (actual), .max_bytes = (max)                                                   \
  }
#define VM_PSS(actual, pss, max)                                                                   \
  {                                                                                                \
    .actual_bytes = (actual), .pss_bytes = { true, (pss) }, .max_bytes = (max)                     \
  }

static void
test_room_covers_all (void)
{
  PolicyReleaseVm vms[] = { VM (1 * GiB, 4 * GiB), VM (2 * GiB, 2 * GiB), VM (512 * MiB, 1 * GiB) };
  uint64_t t[3];
  uint64_t given = policy_release_plan (vms, 3, 8 * GiB, t);
  g_assert_cmpuint (t[0], ==, 4 * GiB);
  g_assert_cmpuint (t[1], ==, 2 * GiB);
  g_assert_cmpuint (t[2], ==, 1 * GiB);
  g_assert_cmpuint (given, ==, 3 * GiB + 512 * MiB);
}

static void
test_room_short_shared_by_fraction (void)
{
  /* Shortfalls 2 GiB and 1 GiB, 1.5 GiB of room: half of each. */
  PolicyReleaseVm vms[] = { VM (2 * GiB, 4 * GiB), VM (1 * GiB, 2 * GiB) };
  uint64_t t[2];
  uint64_t given = policy_release_plan (vms, 2, 1536 * MiB, t);
  g_assert_cmpuint (t[0], ==, 3 * GiB);
  g_assert_cmpuint (t[1], ==, 1536 * MiB);
  g_assert_cmpuint (given, ==, 1536 * MiB);
}

static void
test_never_shrinks (void)
{
  /* max lowered below the balloon (a reload): the release leaves it. */
  PolicyReleaseVm vms[] = { VM (3 * GiB, 2 * GiB), VM (1 * GiB, 2 * GiB) };
  uint64_t t[2];
  g_assert_cmpuint (policy_release_plan (vms, 2, 0, t), ==, 0);
  g_assert_cmpuint (t[0], ==, 3 * GiB);
  g_assert_cmpuint (t[1], ==, 1 * GiB);
  g_assert_cmpuint (policy_release_plan (vms, 2, 4 * GiB, t), ==, 1 * GiB);
  g_assert_cmpuint (t[0], ==, 3 * GiB);
  g_assert_cmpuint (t[1], ==, 2 * GiB);
}

/* Counted at what it holds, max(actual, PSS): a guest reporting a small
 * balloon while its QEMU holds more gets no extra room. */
static void
test_counts_pss (void)
{
  /* Shortfalls from what is held: 2 GiB and 3 GiB; room for 2.5 GiB: half. */
  PolicyReleaseVm vms[] = { VM_PSS (1 * GiB, 2 * GiB, 4 * GiB), VM (1 * GiB, 4 * GiB) };
  uint64_t t[2];
  g_assert_cmpuint (policy_release_plan (vms, 2, 2560 * MiB, t), ==, 2560 * MiB);
  g_assert_cmpuint (t[0], ==, 3 * GiB);
  g_assert_cmpuint (t[1], ==, 2560 * MiB);
  /* Up to what it holds costs nothing: a QEMU holding its max goes to it. */
  PolicyReleaseVm full[] = { VM_PSS (1 * GiB, 5 * GiB, 4 * GiB) };
  g_assert_cmpuint (policy_release_plan (full, 1, 0, t), ==, 0);
  g_assert_cmpuint (t[0], ==, 4 * GiB);
}

static void
test_room (void)
{
  PolicyConfig c;
  policy_config_defaults (&c);
  PolicyHost h = { .mem_total_bytes = 32 * GiB, .mem_available_bytes = 8 * GiB };
  /* Default reserve: max(512 MiB, 5 % of MemTotal). */
  uint64_t reserve = 32 * GiB / 20;
  g_assert_cmpuint (policy_host_reserve_bytes (&c, h.mem_total_bytes), ==, reserve);
  g_assert_cmpuint (policy_release_room (&h, &c), ==, 8 * GiB - reserve);
  h.mem_available_bytes = reserve - 1;
  g_assert_cmpuint (policy_release_room (&h, &c), ==, 0);
  /* No meminfo: nothing is known to be free. */
  PolicyHost none = { 0 };
  g_assert_cmpuint (policy_release_room (&none, &c), ==, 0);
  /* MemAvailable above MemTotal (junk) counts as MemTotal. */
  PolicyHost junk = { .mem_total_bytes = 4 * GiB, .mem_available_bytes = 64 * GiB };
  c.host_reserve = (PolicySize){ .set = true, .bytes = 1 * GiB };
  g_assert_cmpuint (policy_release_room (&junk, &c), ==, 3 * GiB);
}

/* Random fleets: within the room, each VM in [actual, max(actual, max)],
 * everything to max when the room covers it. */
static void
test_invariants (void)
{
  for (int iter = 0; iter < 2000; iter++)
    {
      size_t n = (size_t) g_test_rand_int_range (0, 12);
      PolicyReleaseVm vms[12];
      uint64_t t[12], held[12], short_sum = 0;
      for (size_t i = 0; i < n; i++)
        {
          vms[i].actual_bytes = (uint64_t) g_test_rand_int_range (0, 1 << 16) * MiB;
          vms[i].max_bytes = (uint64_t) g_test_rand_int_range (0, 1 << 16) * MiB;
          vms[i].pss_bytes.present = g_test_rand_bit ();
          vms[i].pss_bytes.value = (uint64_t) g_test_rand_int_range (0, 1 << 16) * MiB;
          uint64_t pss = vms[i].pss_bytes.present ? vms[i].pss_bytes.value : 0;
          held[i] = MAX (vms[i].actual_bytes, pss);
          if (vms[i].max_bytes > held[i])
            short_sum += vms[i].max_bytes - held[i];
        }
      uint64_t room = (uint64_t) g_test_rand_int_range (0, 1 << 17) * MiB + 12345;
      uint64_t given = policy_release_plan (vms, n, room, t);
      uint64_t sum = 0;
      for (size_t i = 0; i < n; i++)
        {
          g_assert_cmpuint (t[i], >=, vms[i].actual_bytes);
          g_assert_cmpuint (t[i], <=, MAX (vms[i].actual_bytes, vms[i].max_bytes));
          if (short_sum <= room)
            g_assert_cmpuint (t[i], ==, MAX (vms[i].actual_bytes, vms[i].max_bytes));
          if (t[i] > held[i])
            sum += t[i] - held[i];
        }
      g_assert_cmpuint (sum, ==, given);
      g_assert_cmpuint (given, <=, room);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/policy/release/room-covers-all", test_room_covers_all);
  g_test_add_func ("/policy/release/room-short", test_room_short_shared_by_fraction);
  g_test_add_func ("/policy/release/never-shrinks", test_never_shrinks);
  g_test_add_func ("/policy/release/counts-pss", test_counts_pss);
  g_test_add_func ("/policy/release/room", test_room);
  g_test_add_func ("/policy/release/invariants", test_invariants);
  return g_test_run ();
}
